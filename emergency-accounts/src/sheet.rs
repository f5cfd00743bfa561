//! The seal sheet: the printable page that goes into the envelope. It is the only place the
//! credential ever appears; the value is handed out once and cannot be cloned or re-read.

use chrono::{DateTime, Utc};

use crate::model::WardScope;
use crate::secret::EmergencyCredential;
use crate::zone::Zone;

/// What to do on opening the envelope, in Japanese.
pub const INSTRUCTIONS_JA: &[&str] = &[
    "この封筒は、電子カルテが使えない非常時または訓練のときだけ開封してください。",
    "開封したら、封印番号と開封時刻を記録し、情報システム部門へ連絡してください。",
    "Akari のログイン画面でアカウントIDと下の資格情報を入力してください（ハイフン・空白は不要、小文字でも可）。キーが同封されていればキーとPINも使います。",
    "ログイン後、あなたの氏名・職員番号・職種・所属と利用理由を正しく申告してください。すべての操作は記録され、事後に監査されます。",
    "この用紙を他人に渡したり撮影したりしないでください。非常時が終わるとこのアカウントは無効になり、新しい資格情報で再封印されます。",
];

/// What to do on opening the envelope, in English.
pub const INSTRUCTIONS_EN: &[&str] = &[
    "Open this envelope only when the main EHR is unavailable during a declared emergency or drill.",
    "When you open it, note the seal number and the time, and inform hospital IT.",
    "On Akari's login page enter the account ID and the credential below (hyphens and spaces optional, lower case accepted). If a security key is enclosed, use it and its PIN too.",
    "After logging in, declare truthfully your name, staff number, profession, department and the reason. Everything you do is recorded and reviewed afterwards.",
    "Do not hand this sheet on or photograph it. When the emergency ends this account stops working and is re-sealed with a new credential.",
];

/// A freshly issued credential with everything needed to print its envelope. Deliberately
/// neither `Clone` nor serialisable: print it, then drop it.
#[derive(Debug)]
#[non_exhaustive]
pub struct SealSheet {
    pub account_id: String,
    pub label: String,
    pub seal_number: String,
    pub ward_scope: WardScope,
    pub expires_at: Option<DateTime<Utc>>,
    pub key_enrolled: bool,
    pub issued_at: DateTime<Utc>,
    pub(crate) credential: EmergencyCredential,
}

impl SealSheet {
    /// The credential, for printing. This is the only copy that will ever exist.
    pub fn credential(&self) -> &EmergencyCredential {
        &self.credential
    }

    pub fn instructions_ja(&self) -> &'static [&'static str] {
        INSTRUCTIONS_JA
    }

    pub fn instructions_en(&self) -> &'static [&'static str] {
        INSTRUCTIONS_EN
    }

    /// The sheet as plain text (for the console, or a printer that takes text), its times
    /// on the hospital's clock.
    pub fn to_printable_text(&self, zone: &Zone) -> String {
        let wards = match &self.ward_scope {
            WardScope::All => "全病棟 / all wards".to_owned(),
            WardScope::Wards(w) => w.join(", "),
        };
        let expiry = self
            .expires_at
            .map(|t| zone.minute(&t))
            .unwrap_or_else(|| "なし / none".into());
        let mut out = String::new();
        out.push_str("Akari 非常時用アカウント / Emergency account\n\n");
        out.push_str(&format!(
            "アカウントID / Account ID : {}\n",
            self.account_id
        ));
        out.push_str(&format!("名称 / Label             : {}\n", self.label));
        out.push_str(&format!(
            "封印番号 / Seal number    : {}\n",
            self.seal_number
        ));
        out.push_str(&format!(
            "資格情報 / Credential     : {}\n",
            self.credential.expose()
        ));
        out.push_str(&format!("対象病棟 / Wards          : {wards}\n"));
        out.push_str(&format!("有効期限 / Expires        : {expiry}\n"));
        if self.key_enrolled {
            out.push_str("セキュリティキー同封 / Security key enclosed: yes\n");
        }
        out.push_str(&format!(
            "発行 / Issued             : {}\n\n",
            zone.minute(&self.issued_at)
        ));
        out.push_str("開封時の手順:\n");
        for (i, line) in INSTRUCTIONS_JA.iter().enumerate() {
            out.push_str(&format!("{}. {line}\n", i + 1));
        }
        out.push_str("\nWhen opening:\n");
        for (i, line) in INSTRUCTIONS_EN.iter().enumerate() {
            out.push_str(&format!("{}. {line}\n", i + 1));
        }
        out
    }
}
