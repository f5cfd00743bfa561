//! The status codes each kind of record carries, as the FHIR value sets the mapping
//! accepts, each with what a reader calls it in Japanese and in English. A code outside
//! its vocabulary is kept as the source gave it (with an `unexpected_status` warning) and
//! shown as an unknown status, never dropped.

/// One status code and its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode {
    pub code: &'static str,
    pub ja: &'static str,
    pub en: &'static str,
}

/// The value set of one status field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocabulary {
    /// The record and field, e.g. `Allergy.verification_status` (for tests and warnings).
    pub field: &'static str,
    pub codes: &'static [StatusCode],
}

impl Vocabulary {
    pub fn get(&self, code: &str) -> Option<&'static StatusCode> {
        self.codes.iter().find(|c| c.code == code)
    }

    pub fn contains(&self, code: &str) -> bool {
        self.get(code).is_some()
    }
}

const fn c(code: &'static str, ja: &'static str, en: &'static str) -> StatusCode {
    StatusCode { code, ja, en }
}

/// [`super::Allergy::clinical_status`].
pub const ALLERGY_CLINICAL: Vocabulary = Vocabulary {
    field: "Allergy.clinical_status",
    codes: &[
        c("active", "活動性", "active"),
        c("inactive", "非活動", "inactive"),
        c("resolved", "消失", "resolved"),
    ],
};

/// [`super::Allergy::verification_status`].
pub const ALLERGY_VERIFICATION: Vocabulary = Vocabulary {
    field: "Allergy.verification_status",
    codes: &[
        c("unconfirmed", "未確定", "unconfirmed"),
        c("presumed", "推定", "presumed"),
        c("confirmed", "確定", "confirmed"),
        c("refuted", "否定", "refuted"),
    ],
};

/// [`super::Condition::clinical_status`] (and a Condition recorded as an infection).
pub const CONDITION_CLINICAL: Vocabulary = Vocabulary {
    field: "Condition.clinical_status",
    codes: &[
        c("active", "活動性", "active"),
        c("recurrence", "再発", "recurrence"),
        c("relapse", "再燃", "relapse"),
        c("inactive", "非活動", "inactive"),
        c("remission", "寛解", "remission"),
        c("resolved", "治癒", "resolved"),
    ],
};

/// [`super::Prescription::status`].
pub const PRESCRIPTION: Vocabulary = Vocabulary {
    field: "Prescription.status",
    codes: &[
        c("active", "有効", "active"),
        c("on-hold", "保留", "on hold"),
        c("completed", "終了", "ended"),
        c("stopped", "中止", "stopped"),
        c("unknown", "状態不明", "status unknown"),
    ],
};

/// [`super::Administration::status`].
pub const ADMINISTRATION: Vocabulary = Vocabulary {
    field: "Administration.status",
    codes: &[
        c("in-progress", "実施中", "in progress"),
        c("not-done", "未実施", "not done"),
        c("on-hold", "保留", "on hold"),
        c("completed", "実施済み", "given"),
        c("stopped", "中止", "stopped"),
        c("unknown", "状態不明", "status unknown"),
    ],
};

/// [`super::Report::status`].
pub const REPORT: Vocabulary = Vocabulary {
    field: "Report.status",
    codes: &[
        c("registered", "受付済み", "registered"),
        c("partial", "一部報告", "partial"),
        c("preliminary", "速報", "preliminary"),
        c("final", "確定", "final"),
        c("amended", "修正", "amended"),
        c("corrected", "訂正", "corrected"),
        c("appended", "追記", "appended"),
        c("unknown", "状態不明", "status unknown"),
    ],
};

/// [`super::Order::status`].
pub const ORDER: Vocabulary = Vocabulary {
    field: "Order.status",
    codes: &[
        c("active", "有効", "active"),
        c("on-hold", "保留", "on hold"),
        c("unknown", "状態不明", "status unknown"),
    ],
};

/// [`super::Immunization::status`].
pub const IMMUNIZATION: Vocabulary = Vocabulary {
    field: "Immunization.status",
    codes: &[
        c("completed", "接種済み", "given"),
        c("not-done", "未実施", "not done"),
    ],
};

/// Every status vocabulary of the record that a page can show.
pub const ALL: [Vocabulary; 8] = [
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    CONDITION_CLINICAL,
    PRESCRIPTION,
    ADMINISTRATION,
    REPORT,
    ORDER,
    IMMUNIZATION,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_named_once_in_both_languages() {
        for v in ALL {
            for (i, code) in v.codes.iter().enumerate() {
                assert!(!code.ja.is_empty() && !code.en.is_empty(), "{}", v.field);
                assert!(
                    !code.ja.is_ascii(),
                    "{}: {} has no Japanese name",
                    v.field,
                    code.code
                );
                assert!(
                    !v.codes[..i].iter().any(|c| c.code == code.code),
                    "{}: {} twice",
                    v.field,
                    code.code
                );
            }
        }
    }
}
