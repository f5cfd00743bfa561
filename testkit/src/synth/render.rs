//! Rendering a [`PatientSpec`] into JP Core shaped FHIR R4 JSON.

use akari_sync::model::{
    Criticality, DocumentKind, FlagKind, Instant, Moment, Onset, Sex, VitalKind,
};
use base64::Engine as _;
use chrono::SecondsFormat;
use serde_json::{json, Value};

use super::spec::{
    AllergySpec, ConditionSpec, DocumentSpec, EncounterSpec, FlagSpec, InfectionSpec, Item,
    LabSpec, MarSpec, PatientSpec, RxSpec, VitalSpec,
};
use super::{Resource, SynthConfig};

const EN_REPRESENTATION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
const JLAC10: &str = "urn:oid:1.2.392.200119.4.504";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const UCUM: &str = "http://unitsofmeasure.org";

pub(crate) fn dt(t: &Instant) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn num(text: &str) -> Value {
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `onsetDateTime` of the onsets the generator makes (a date).
fn onset_text(o: Option<&Onset>) -> Value {
    match o {
        Some(Onset::At(Moment::Day(d))) => Value::String(d.format("%Y-%m-%d").to_string()),
        Some(Onset::At(Moment::Time(t))) => Value::String(dt(t)),
        _ => Value::Null,
    }
}

fn opt_dt(t: &Option<Instant>) -> Value {
    t.as_ref()
        .map(|t| Value::String(dt(t)))
        .unwrap_or(Value::Null)
}

fn meta(last_updated: &Instant, profile: &str) -> Value {
    json!({"lastUpdated": dt(last_updated), "profile": [format!("http://jpfhir.jp/fhir/core/StructureDefinition/{profile}")]})
}

fn subject(p: &PatientSpec) -> Value {
    json!({"reference": format!("Patient/{}", p.id)})
}

fn finish(resource_type: &'static str, id: &str, last_updated: Instant, mut v: Value) -> Resource {
    // Drop nulls at the top level so optional fields are absent rather than null.
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    Resource {
        resource_type,
        id: id.to_string(),
        last_updated,
        json: serde_json::to_vec(&v).unwrap_or_default(),
    }
}

pub(crate) fn render_patient(p: &PatientSpec, cfg: &SynthConfig) -> Resource {
    let gender = match p.sex {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    };
    let v = json!({
        "resourceType": "Patient",
        "id": p.id,
        "meta": meta(&p.last_updated, "JP_Patient"),
        "identifier": [{"system": cfg.hospital_id_system(), "value": p.hospital_id}],
        "active": true,
        "name": [
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "use": "official",
             "text": p.name_kanji(), "family": p.family_kanji, "given": [p.given_kanji]},
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}], "use": "official",
             "text": p.name_kana(), "family": p.family_kana, "given": [p.given_kana]}
        ],
        "gender": gender,
        "birthDate": p.birth_date.format("%Y-%m-%d").to_string(),
    });
    finish("Patient", &p.id, p.last_updated, v)
}

/// How one kind of item becomes a FHIR resource.
pub(crate) trait Render {
    const TYPE: &'static str;
    fn id(&self) -> &str;
    fn body(&self, p: &PatientSpec, eie: bool) -> Value;
}

pub(crate) fn render_one<T: Render>(
    p: &PatientSpec,
    item: &Item<T>,
    _cfg: &SynthConfig,
) -> Resource {
    let mut v = item.v.body(p, item.entered_in_error);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), Value::String(item.v.id().to_string()));
        m.insert(
            "meta".into(),
            json!({"lastUpdated": dt(&item.last_updated)}),
        );
    }
    finish(T::TYPE, item.v.id(), item.last_updated, v)
}

impl Render for AllergySpec {
    const TYPE: &'static str = "AllergyIntolerance";
    fn id(&self) -> &str {
        &self.0.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let a = &self.0;
        let crit = a.criticality.map(|c| match c {
            Criticality::Low => "low",
            Criticality::High => "high",
            Criticality::UnableToAssess => "unable-to-assess",
        });
        let vs = if eie {
            Some("entered-in-error")
        } else {
            a.verification_status.as_deref()
        };
        json!({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": a.clinical_status}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": vs}]},
            "type": "allergy",
            "category": a.categories,
            "criticality": crit,
            "code": {"text": a.substance},
            "patient": subject(p),
            "recordedDate": opt_dt(&a.recorded),
            "reaction": [{"manifestation": a.reactions.iter().map(|r| json!({"text": r})).collect::<Vec<_>>()}],
        })
    }
}

impl Render for ConditionSpec {
    const TYPE: &'static str = "Condition";
    fn id(&self) -> &str {
        &self.0.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let c = &self.0;
        json!({
            "resourceType": "Condition",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": c.clinical_status}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": if eie { "entered-in-error" } else { "confirmed" }}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": c.code, "display": c.text}], "text": c.text},
            "subject": subject(p),
            "onsetDateTime": onset_text(c.onset.as_ref()),
            "recordedDate": opt_dt(&c.recorded),
        })
    }
}

impl Render for InfectionSpec {
    const TYPE: &'static str = "Observation";
    fn id(&self) -> &str {
        &self.m.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        json!({
            "resourceType": "Observation",
            "status": if eie { "entered-in-error" } else { "final" },
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": [{"system": JLAC10, "code": self.code, "display": self.m.name}], "text": self.m.name},
            "subject": subject(p),
            "effectiveDateTime": opt_dt(&self.m.time),
            "valueCodeableConcept": {"text": self.m.result},
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": self.interpretation}]}],
        })
    }
}

impl Render for LabSpec {
    const TYPE: &'static str = "Observation";
    fn id(&self) -> &str {
        &self.m.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let l = &self.m;
        json!({
            "resourceType": "Observation",
            "status": if eie { "entered-in-error" } else { "final" },
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": [{"system": JLAC10, "code": l.code, "display": l.test}], "text": l.test},
            "subject": subject(p),
            "effectiveDateTime": opt_dt(&l.time),
            "valueQuantity": {"value": num(&l.value), "unit": l.unit},
            "referenceRange": [{"low": {"value": num(&self.low), "unit": l.unit}, "high": {"value": num(&self.high), "unit": l.unit}, "text": l.reference_range.as_ref().and_then(|r| r.text.as_deref())}],
            "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": l.interpretation}]}],
        })
    }
}

pub(crate) fn loinc(kind: VitalKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        VitalKind::BloodPressure => ("85354-9", "血圧", "mm[Hg]"),
        VitalKind::HeartRate => ("8867-4", "心拍数", "/min"),
        VitalKind::BodyTemperature => ("8310-5", "体温", "Cel"),
        VitalKind::RespiratoryRate => ("9279-1", "呼吸数", "/min"),
        VitalKind::OxygenSaturation => ("2708-6", "SpO2", "%"),
        VitalKind::BodyWeight => ("29463-7", "体重", "kg"),
        _ => ("8302-2", "身長", "cm"),
    }
}

impl Render for VitalSpec {
    const TYPE: &'static str = "Observation";
    fn id(&self) -> &str {
        &self.m.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let (code, name, ucum) = loinc(self.m.kind);
        let mut v = json!({
            "resourceType": "Observation",
            "status": if eie { "entered-in-error" } else { "final" },
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}], "text": name},
            "subject": subject(p),
            "effectiveDateTime": dt(&self.m.time),
        });
        if let (Some((s, d)), Value::Object(m)) = (&self.bp, &mut v) {
            m.insert(
                "component".into(),
                json!([
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "収縮期血圧"}]},
                     "valueQuantity": {"value": num(s), "unit": "mmHg", "system": UCUM, "code": ucum}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4", "display": "拡張期血圧"}]},
                     "valueQuantity": {"value": num(d), "unit": "mmHg", "system": UCUM, "code": ucum}}
                ]),
            );
        } else if let Value::Object(m) = &mut v {
            m.insert(
                "valueQuantity".into(),
                json!({"value": num(&self.m.value), "unit": self.m.unit, "system": UCUM, "code": ucum}),
            );
        }
        v
    }
}

impl Render for RxSpec {
    const TYPE: &'static str = "MedicationRequest";
    fn id(&self) -> &str {
        &self.m.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let m = &self.m;
        let text = format!(
            "{} 1回{}{}",
            m.timing.as_deref().unwrap_or(""),
            self.dose_value,
            self.dose_unit
        );
        json!({
            "resourceType": "MedicationRequest",
            "status": if eie { "entered-in-error" } else { m.status.as_str() },
            "intent": "order",
            "medicationCodeableConcept": {"text": m.medication},
            "subject": subject(p),
            "authoredOn": opt_dt(&m.authored_on),
            "dosageInstruction": [{
                "text": text,
                "timing": {"code": {"text": m.timing}, "repeat": {"boundsPeriod": {"start": opt_dt(&m.period_start), "end": opt_dt(&m.period_end)}}},
                "asNeededBoolean": m.as_needed,
                "route": {"text": m.route},
                "doseAndRate": [{"doseQuantity": {"value": num(&self.dose_value), "unit": self.dose_unit}}]
            }],
            "dispenseRequest": m.days.map(|d| json!({"expectedSupplyDuration": {"value": d, "unit": "日", "system": "http://unitsofmeasure.org", "code": "d"}})),
            "requester": m.prescriber.as_ref().map(|p| json!({"display": p.name})),
        })
    }
}

impl Render for MarSpec {
    const TYPE: &'static str = "MedicationAdministration";
    fn id(&self) -> &str {
        &self.m.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let m = &self.m;
        json!({
            "resourceType": "MedicationAdministration",
            "status": if eie { "entered-in-error" } else { m.status.as_str() },
            "medicationCodeableConcept": {"text": m.medication},
            "subject": subject(p),
            "effectiveDateTime": dt(&m.time),
            "request": m.prescription_id.as_ref().map(|r| json!({"reference": format!("MedicationRequest/{r}")})),
            "dosage": {"route": {"text": m.route}, "dose": {"value": num(&self.dose_value), "unit": self.dose_unit}},
        })
    }
}

impl Render for FlagSpec {
    const TYPE: &'static str = "Flag";
    fn id(&self) -> &str {
        &self.0.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let f = &self.0;
        let code = match f.kind {
            FlagKind::Dnr => "304253006",
            FlagKind::Isolation => "40174006",
            FlagKind::FallRisk => "129839007",
            FlagKind::Other => "000000000",
        };
        json!({
            "resourceType": "Flag",
            "status": if eie { "entered-in-error" } else { "active" },
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical"}]}],
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}], "text": f.text},
            "subject": subject(p),
            "period": {"start": opt_dt(&f.start)},
        })
    }
}

impl Render for EncounterSpec {
    const TYPE: &'static str = "Encounter";
    fn id(&self) -> &str {
        &self.0.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let e = &self.0;
        let loc = |display: &Option<String>, code: &str| {
            display.as_ref().map(|d| {
                json!({"location": {"display": d}, "status": "active",
                       "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code}]}})
            })
        };
        let locations: Vec<Value> = [loc(&e.ward, "wa"), loc(&e.room, "ro"), loc(&e.bed, "bd")]
            .into_iter()
            .flatten()
            .collect();
        let class_display = match e.class.as_deref() {
            Some("IMP") => "入院",
            Some("AMB") => "外来",
            Some("EMER") => "救急",
            _ => "",
        };
        let mut period = serde_json::Map::new();
        if let Some(s) = &e.start {
            period.insert("start".into(), Value::String(dt(s)));
        }
        if let Some(s) = &e.end {
            period.insert("end".into(), Value::String(dt(s)));
        }
        let mut v = json!({
            "resourceType": "Encounter",
            "status": if eie { "entered-in-error" } else { e.status.as_str() },
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": e.class, "display": class_display},
            "subject": subject(p),
            "period": period,
        });
        if !locations.is_empty() {
            if let Value::Object(m) = &mut v {
                m.insert("location".into(), Value::Array(locations));
            }
        }
        v
    }
}

impl Render for DocumentSpec {
    const TYPE: &'static str = "DocumentReference";
    fn id(&self) -> &str {
        &self.0.id
    }
    fn body(&self, p: &PatientSpec, eie: bool) -> Value {
        let d = &self.0;
        let (code, display) = match d.kind {
            DocumentKind::Referral => ("57133-1", "診療情報提供書"),
            DocumentKind::DischargeSummary => ("18842-5", "退院時サマリー"),
            DocumentKind::HealthCheck => ("53576-5", "健診結果報告書"),
            DocumentKind::Other => ("34133-9", "その他"),
        };
        let data = base64::engine::general_purpose::STANDARD.encode(d.text.as_bytes());
        json!({
            "resourceType": "DocumentReference",
            "status": if eie { "entered-in-error" } else { "current" },
            "type": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
            "subject": subject(p),
            "date": opt_dt(&d.date),
            "description": d.title,
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "ja", "data": data, "title": d.title}}],
        })
    }
}

/// Every resource of one patient, Patient first.
pub fn resources_of(p: &PatientSpec, cfg: &SynthConfig) -> Vec<Resource> {
    let mut out = Vec::with_capacity(
        1 + p.allergies.len()
            + p.conditions.len()
            + p.infections.len()
            + p.prescriptions.len()
            + p.administrations.len()
            + p.labs.len()
            + p.vitals.len()
            + p.flags.len()
            + p.encounters.len()
            + p.documents.len(),
    );
    out.push(render_patient(p, cfg));
    fn all<T: Render>(out: &mut Vec<Resource>, p: &PatientSpec, v: &[Item<T>], cfg: &SynthConfig) {
        out.extend(v.iter().map(|i| render_one(p, i, cfg)));
    }
    all(&mut out, p, &p.allergies, cfg);
    all(&mut out, p, &p.conditions, cfg);
    all(&mut out, p, &p.infections, cfg);
    all(&mut out, p, &p.prescriptions, cfg);
    all(&mut out, p, &p.administrations, cfg);
    all(&mut out, p, &p.labs, cfg);
    all(&mut out, p, &p.vitals, cfg);
    all(&mut out, p, &p.flags, cfg);
    all(&mut out, p, &p.encounters, cfg);
    all(&mut out, p, &p.documents, cfg);
    out
}
