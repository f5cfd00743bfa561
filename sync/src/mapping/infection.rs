//! What counts as an infection (screening) result, from a Condition or an Observation.
//!
//! Rule: a Condition whose category has code `infection`, or whose code has an ICD-10 code
//! in A00–B99, U07 or Z22, or whose name contains one of [`INFECTION_WORDS`]; an
//! Observation whose category has code `infection`, or whose code is one of
//! [`INFECTION_CODE_PREFIXES`], or whose test name contains one of [`INFECTION_WORDS`].
//! An Observation's result is positive by its interpretation (POS, A, H, DET, R…), a
//! positive coded value, or text saying 陽性 / (+) without 陰性 / (-).

use super::fields::has_code_in;
use crate::fhir;

/// JLAC10 analyte prefixes (first 5 characters of the 17-digit code) and LOINC codes that
/// name an infection test: HBs antigen, HCV antibody, syphilis (TP antibody, RPR/STS),
/// HIV, HTLV-1, MRSA and SARS-CoV-2.
pub const INFECTION_CODE_PREFIXES: &[&str] = &[
    "5F016", "5F360", "5E071", "5E072", "5E073", "5E011", "5F421", "5F601", "5F602", "5F603",
    "5F470", "6B010", "5195-3", "16128-1", "20507-0", "5393-4", "7917-8", "56888-1", "13317-3",
    "94500-6",
];
/// Words in a test or condition name that mark it as an infection (screening) result.
pub const INFECTION_WORDS: &[&str] = &[
    "HBs",
    "HCV",
    "梅毒",
    "TPHA",
    "RPR",
    "HIV",
    "HTLV",
    "MRSA",
    "VRE",
    "ESBL",
    "CRE",
    "結核",
    "COVID",
    "SARS-CoV-2",
    "疥癬",
    "ノロ",
];

/// Does this test or condition name contain one of [`INFECTION_WORDS`]? (One pass over
/// the text for all words.)
pub(super) fn names_infection(text: &str) -> bool {
    static WORDS: std::sync::LazyLock<aho_corasick::AhoCorasick> = std::sync::LazyLock::new(|| {
        aho_corasick::AhoCorasick::new(INFECTION_WORDS).expect("fixed word list builds")
    });
    WORDS.is_match(text)
}

pub(super) fn is_infection_condition(c: &fhir::Condition) -> bool {
    if has_code_in(&c.category, "infection") {
        return true;
    }
    let icd = c.code.iter().flat_map(|cc| cc.coding.iter()).any(|coding| {
        coding
            .system
            .as_deref()
            .is_some_and(|s| s.contains("ICD10"))
            && coding.code.as_deref().is_some_and(|code| {
                code.starts_with('A')
                    || code.starts_with('B')
                    || code.starts_with("U07")
                    || code.starts_with("Z22")
            })
    });
    icd || c
        .code
        .as_ref()
        .and_then(fhir::CodeableConcept::readable_str)
        .is_some_and(names_infection)
}

pub(super) fn is_infection_observation(o: &fhir::Observation) -> bool {
    if has_code_in(&o.category, "infection") {
        return true;
    }
    let coded = o.code.coding.iter().any(|c| {
        c.code
            .as_deref()
            .is_some_and(|code| INFECTION_CODE_PREFIXES.iter().any(|p| code.starts_with(p)))
    });
    coded || o.code.readable_str().is_some_and(names_infection)
}

pub(super) fn infection_positive(o: &fhir::Observation, value: &str) -> bool {
    let interp_pos = o.interpretation.iter().any(|i| {
        i.coding.iter().any(|c| {
            matches!(
                c.code.as_deref(),
                Some("POS" | "A" | "AA" | "H" | "HH" | "DET" | "R")
            )
        })
    });
    let value_pos = o.value_codeable_concept.as_ref().is_some_and(|v| {
        v.coding
            .iter()
            .any(|c| matches!(c.code.as_deref(), Some("POS" | "260373001" | "10828004")))
    });
    let negative_text = value.contains("陰性") || value.contains("(-)") || value.contains("（-）");
    let positive_text = value.contains("陽性")
        || value.contains("(+)")
        || value.contains("（+）")
        || value.starts_with('+');
    interp_pos || value_pos || (positive_text && !negative_text)
}
