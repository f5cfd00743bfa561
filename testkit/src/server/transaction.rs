//! `POST /fhir` with a `transaction` Bundle, as a real server processes one: all or
//! nothing. Each entry is a `POST` of a resource (optionally `ifNoneExist` on an
//! identifier: an existing match is returned instead of a second copy) or a `PUT` to
//! `Type/id` (update as create, with the client's id); references to
//! the bundle's `fullUrl`s are rewritten to the ids assigned, `Type/id` references must
//! name a stored resource, `Type?identifier=system|value` references must match exactly
//! one. Any failure stores nothing and answers with an OperationOutcome. The answer is a
//! `transaction-response` Bundle with each entry's status and location.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::state::{instant, new_id, now_jst, outcome, Data, History, Shared, Stored};
use super::FhirServer;

/// Whether `resource` has the identifier `system|value`.
fn has_identifier(resource: &Value, system: &str, value: &str) -> bool {
    resource["identifier"].as_array().is_some_and(|ids| {
        ids.iter()
            .any(|i| i["system"].as_str() == Some(system) && i["value"].as_str() == Some(value))
    })
}

/// The ids of stored resources of `rtype` matching the search `identifier=system|value`.
fn find(data: &Data, rtype: &str, query: &str) -> Result<Vec<String>, String> {
    let Some(ident) = query.strip_prefix("identifier=") else {
        return Err(format!(
            "unsupported search `{query}`: only identifier=system|value"
        ));
    };
    let (system, value) = ident.split_once('|').unwrap_or(("", ident));
    Ok(data
        .resources
        .get(rtype)
        .map(|m| {
            m.iter()
                .filter(|(_, s)| {
                    serde_json::from_slice::<Value>(&s.json)
                        .is_ok_and(|r| has_identifier(&r, system, value))
                })
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default())
}

/// Rewrites every `reference` in `v`: bundle-internal ones to the assigned ids; checks
/// literal and conditional ones against what is stored.
fn resolve(v: &mut Value, data: &Data, assigned: &HashMap<String, String>) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference").cloned().as_ref() {
                let target = if let Some(to) = assigned.get(r) {
                    to.clone()
                } else if r.starts_with("urn:") {
                    return Err(format!("reference {r} names no entry of the bundle"));
                } else if let Some((rtype, query)) = r.split_once('?') {
                    let ids = find(data, rtype, query)?;
                    match ids.as_slice() {
                        [id] => format!("{rtype}/{id}"),
                        [] => return Err(format!("conditional reference {r} matches nothing")),
                        _ => return Err(format!("conditional reference {r} matches several")),
                    }
                } else {
                    let (rtype, id) = r
                        .split_once('/')
                        .ok_or_else(|| format!("reference {r} is not Type/id"))?;
                    let known = data
                        .resources
                        .get(rtype)
                        .is_some_and(|m| m.contains_key(id))
                        || assigned.values().any(|a| a == r);
                    if !known {
                        return Err(format!("reference {r} names no stored resource"));
                    }
                    r.clone()
                };
                map.insert("reference".into(), Value::String(target));
            }
            for (_, child) in map.iter_mut() {
                resolve(child, data, assigned)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|i| resolve(i, data, assigned)),
        _ => Ok(()),
    }
}

/// What one entry becomes.
enum Planned {
    /// Stored as `rtype/id` (`existed`: a PUT that replaces it).
    Create {
        rtype: String,
        id: String,
        resource: Value,
        existed: bool,
    },
    Existing {
        location: String,
    },
}

fn plan(bundle: &Value, data: &Data, shared: &Shared) -> Result<Vec<Planned>, String> {
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
        return Err("not a transaction Bundle".into());
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    let mut assigned = HashMap::new();
    let mut planned = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let request = &e["request"];
        let url = request["url"].as_str().unwrap_or_default();
        let resource = e["resource"].clone();
        if request["method"] == "PUT" {
            let Some((rtype, id)) = url.split_once('/') else {
                return Err(format!("entry {i}: PUT needs Type/id"));
            };
            if resource["resourceType"].as_str() != Some(rtype) || resource["id"] != id {
                return Err(format!("entry {i}: PUT {url} does not match the resource"));
            }
            if let Some(full) = e["fullUrl"].as_str() {
                assigned.insert(full.to_owned(), url.to_owned());
            }
            let existed = data
                .resources
                .get(rtype)
                .is_some_and(|m| m.contains_key(id));
            planned.push(Planned::Create {
                rtype: rtype.to_owned(),
                id: id.to_owned(),
                resource,
                existed,
            });
            continue;
        }
        if request["method"] != "POST" {
            return Err(format!("entry {i}: only POST and PUT are supported"));
        }
        let rtype = url.to_owned();
        if resource["resourceType"].as_str() != Some(rtype.as_str()) {
            return Err(format!(
                "entry {i}: request.url {rtype} does not match the resource"
            ));
        }
        let existing = match request["ifNoneExist"].as_str() {
            Some(q) => find(data, &rtype, q)?,
            None => Vec::new(),
        };
        let (location, step) = match existing.as_slice() {
            [] => {
                let id = new_id(shared);
                (
                    format!("{rtype}/{id}"),
                    Planned::Create {
                        rtype: rtype.clone(),
                        id,
                        resource,
                        existed: false,
                    },
                )
            }
            [id] => {
                let location = format!("{rtype}/{id}");
                (location.clone(), Planned::Existing { location })
            }
            _ => return Err(format!("entry {i}: ifNoneExist matches several resources")),
        };
        if let Some(full) = e["fullUrl"].as_str() {
            assigned.insert(full.to_owned(), location);
        }
        planned.push(step);
    }
    for p in &mut planned {
        if let Planned::Create { resource, .. } = p {
            resolve(resource, data, &assigned)?;
        }
    }
    Ok(planned)
}

pub(super) async fn transaction(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Ok(bundle) = serde_json::from_slice::<Value>(&body) else {
        return outcome(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let mut data = shared.data.lock().unwrap_or_else(|e| e.into_inner());
    let planned = match plan(&bundle, &data, &shared) {
        Ok(p) => p,
        Err(e) => return outcome(StatusCode::BAD_REQUEST, &e),
    };
    let now = now_jst();
    let mut responses = Vec::new();
    for p in planned {
        match p {
            Planned::Create {
                rtype,
                id,
                mut resource,
                existed,
            } => {
                resource["id"] = json!(id);
                resource["meta"]["versionId"] = json!("1");
                resource["meta"]["lastUpdated"] = json!(instant(&now));
                let bytes = Arc::new(serde_json::to_vec(&resource).expect("JSON"));
                data.resources.entry(rtype.clone()).or_default().insert(
                    id.clone(),
                    Stored {
                        last_updated: now,
                        json: bytes.clone(),
                    },
                );
                data.history.push(History {
                    resource_type: rtype.clone(),
                    id: id.clone(),
                    at: now,
                    json: Some(bytes),
                });
                responses.push(json!({ "response": {
                    "status": if existed { "200 OK" } else { "201 Created" },
                    "location": format!("{rtype}/{id}/_history/1"),
                    "etag": "W/\"1\"",
                    "lastModified": instant(&now),
                } }));
            }
            Planned::Existing { location } => {
                responses.push(json!({ "response": { "status": "200 OK", "location": location } }));
            }
        }
    }
    let body = json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": responses,
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

impl FhirServer {
    /// The stored resources of `rtype`, as JSON (for tests of what a client wrote).
    pub fn resources_of(&self, rtype: &str) -> Vec<Value> {
        let d = self.shared.data.lock().unwrap_or_else(|e| e.into_inner());
        d.resources
            .get(rtype)
            .map(|m| {
                m.values()
                    .filter_map(|s| serde_json::from_slice(&s.json).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}
