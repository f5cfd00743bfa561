//! The published FHIR R4 JSON schema (`fhir.schema.json`, id
//! `http://hl7.org/fhir/json-schema/4.0`, installed by `scripts/fetch-fhir-schema.sh`), for
//! the tests that validate what the node writes as FHIR. A missing schema fails the test
//! with the command that installs it.

use std::path::PathBuf;

use serde_json::{json, Value};

/// `AKARI_FHIR_SCHEMA`, else `target/fhir-schema/fhir.schema.json` of the workspace.
pub fn path() -> PathBuf {
    match std::env::var_os("AKARI_FHIR_SCHEMA") {
        Some(p) => PathBuf::from(p),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fhir-schema/fhir.schema.json")
        }
    }
}

/// The R4 schema; panics with the command that installs it when it is missing.
pub fn load() -> Value {
    let path = path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "the FHIR R4 schema is missing at {} ({e}): run `bash scripts/fetch-fhir-schema.sh` \
             (or `scripts/test`, which fetches it and runs every test)",
            path.display()
        )
    });
    let schema: Value = serde_json::from_slice(&bytes).expect("fhir.schema.json is JSON");
    assert_eq!(
        schema["id"], "http://hl7.org/fhir/json-schema/4.0",
        "the R4 schema"
    );
    schema
}

/// A validator of one resource definition (`AuditEvent`, `Observation`, ...) of `schema`.
pub fn validator_for(schema: &Value, definition: &str) -> jsonschema::Validator {
    let mut s = schema.clone();
    let obj = s.as_object_mut().expect("the schema is an object");
    obj.remove("oneOf");
    obj.remove("discriminator");
    obj.insert(
        "allOf".into(),
        json!([{ "$ref": format!("#/definitions/{definition}") }]),
    );
    jsonschema::validator_for(&s).expect("the R4 schema compiles")
}

/// Every error of `instance`, with where it is.
pub fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
