//! The viewer's two languages. Japanese is the default; English is chosen by the `lang`
//! cookie (the toggle) or, failing that, by `Accept-Language`. Every user-visible string
//! lives in [`MESSAGES`] so a missing translation is a test failure, not a blank.

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The cookie wins; otherwise the first of `ja`/`en` in `Accept-Language` (by q);
    /// otherwise Japanese.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(lang) = crate::session::cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return lang;
        }
        let Some(accept) = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::Ja;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=").map(str::to_owned))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Ja)
    }
}

pub const LANG_COOKIE: &str = "akari_lang";

/// Translator handed to templates: `{{ c.tr.s("key") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn s(&self, key: &str) -> &'static str {
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some((_, ja, en)) => match self.lang {
                Lang::Ja => ja,
                Lang::En => en,
            },
            // Unreachable when the template test passes; show something harmless.
            None => "?",
        }
    }
}

/// (key, 日本語, English)
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app", "灯り 非常時閲覧", "Akari downtime viewer"),
    ("mode_emergency", "非常時モード", "EMERGENCY"),
    ("mode_drill", "訓練モード（実際の非常時ではありません）", "DRILL (not a real emergency)"),
    ("mode_standby", "待機中（通常運用）", "STANDBY (normal operation)"),
    ("mode_recovery", "復旧中", "RECOVERY"),
    ("data_as_of", "データ時点", "Data as of"),
    ("no_data", "データがありません（同期未完了）", "No data (never synchronised)"),
    ("stale_warning", "古いデータです。最新の情報ではない可能性があります。", "Old data: may not be current."),
    ("logged_in_as", "ログイン中", "Logged in"),
    ("account", "アカウント", "Account"),
    ("declared_person", "利用者", "User"),
    ("logout", "ログアウト", "Log out"),
    ("switch_lang", "English", "日本語"),
    ("login_title", "非常時アカウントでログイン", "Log in with an emergency account"),
    ("login_help", "封筒の中の用紙に書かれたアカウントIDと認証情報を入力してください。", "Enter the account ID and credential printed on the sheet inside the sealed envelope."),
    ("account_id", "アカウントID", "Account ID"),
    ("credential", "認証情報", "Credential"),
    ("login", "ログイン", "Log in"),
    ("login_refused", "ログインできませんでした。アカウントIDと認証情報を確認してください。", "Login refused. Check the account ID and the credential."),
    ("login_backoff", "失敗が続いたため、しばらく待ってから再度お試しください。", "Too many failures: wait a moment and try again."),
    ("login_not_allowed", "非常時または訓練モードでのみログインできます。情報システム部門に連絡してください。", "Emergency accounts work only in emergency or drill mode. Contact hospital IT."),
    ("declare_title", "利用者の申告", "Who is using this account"),
    ("declare_help", "この非常時アカウントを使う本人の情報を入力してください。すべての操作が記録されます。", "Enter the real person using this emergency account. Everything you do is recorded."),
    ("person_name", "氏名", "Name"),
    ("staff_number", "職員番号", "Staff number"),
    ("profession", "職種", "Profession"),
    ("department", "所属部署", "Department"),
    ("reason", "利用理由", "Reason"),
    ("reason_treatment", "救急・診療のため", "Emergency treatment"),
    ("reason_drill", "訓練", "Drill"),
    ("reason_other", "その他（下に記入）", "Other (write below)"),
    ("reason_text", "その他の理由", "Other reason"),
    ("declare", "申告して開始", "Declare and start"),
    ("declare_missing", "すべての項目を入力してください。", "Please fill in every field."),
    ("search", "患者検索", "Patient search"),
    ("search_help", "患者ID・カナ・漢字氏名・生年月日（例 1950-04-01）のどれでも検索できます。", "Search by hospital ID, kana, kanji name or birth date (e.g. 1950-04-01)."),
    ("search_button", "検索", "Search"),
    ("results", "検索結果", "Results"),
    ("no_results", "該当する患者はいません。", "No matching patient."),
    ("name", "氏名", "Name"),
    ("kana", "カナ", "Kana"),
    ("age_sex", "年齢・性別", "Age, sex"),
    ("hospital_id", "患者ID", "Patient ID"),
    ("ward", "病棟", "Ward"),
    ("room", "病室", "Room"),
    ("bed", "ベッド", "Bed"),
    ("wards", "病棟一覧", "Wards"),
    ("ward_census", "病棟患者一覧", "Ward census"),
    ("open", "開く", "Open"),
    ("print_ward", "病棟全員を印刷", "Print the whole ward"),
    ("print_patient", "この患者を印刷", "Print this patient"),
    ("print_now", "印刷する", "Print"),
    ("markers", "注意", "Alerts"),
    ("marker_allergy", "アレルギー", "Allergy"),
    ("marker_infection", "感染症", "Infection"),
    ("allergies", "アレルギー・薬剤禁忌", "Allergies and drug contraindications"),
    ("no_known_allergies", "登録されたアレルギー・禁忌はありません（未確認の可能性あり）", "No allergies or contraindications recorded (may be unchecked)"),
    ("drug_contraindication", "薬剤禁忌", "DRUG"),
    ("criticality_high", "重篤", "HIGH RISK"),
    ("reaction", "症状", "Reaction"),
    ("infections", "感染症", "Infections"),
    ("positive", "陽性", "Positive"),
    ("negative", "陰性", "Negative"),
    ("flags", "注意事項", "Flags"),
    ("flag_dnr", "DNR（蘇生不要）", "DNR"),
    ("flag_isolation", "隔離", "Isolation"),
    ("flag_fall", "転倒リスク", "Fall risk"),
    ("flag_other", "注意", "Alert"),
    ("prescriptions", "処方（有効）", "Active prescriptions"),
    ("medication", "薬剤", "Medication"),
    ("dose", "用量", "Dose"),
    ("route", "経路", "Route"),
    ("timing", "用法", "Timing"),
    ("prn", "頓用", "PRN"),
    ("mar", "与薬記録（72時間）", "Medication administrations (72 h)"),
    ("no_mar", "72時間以内の与薬記録はありません。", "No administrations in the last 72 h."),
    ("labs", "検査結果", "Lab results"),
    ("test", "検査項目", "Test"),
    ("value", "値", "Value"),
    ("reference", "基準値", "Reference"),
    ("abnormal", "異常", "Abnormal"),
    ("time", "日時", "Time"),
    ("vitals", "バイタルサイン", "Vital signs"),
    ("problems", "傷病名", "Problems"),
    ("documents", "文書", "Documents"),
    ("none", "なし", "None"),
    ("status", "状態", "Status"),
    ("sex_male", "男", "M"),
    ("sex_female", "女", "F"),
    ("sex_other", "他", "O"),
    ("sex_unknown", "不明", "?"),
    ("years", "歳", "y"),
    ("born", "生年月日", "Born"),
    ("back", "戻る", "Back"),
    ("printed_by", "印刷者", "Printed by"),
    ("printed_at", "印刷日時", "Printed at"),
    ("confidential", "個人情報 取扱注意 — 使用後は所定の方法で廃棄", "Confidential patient information — dispose of securely after use"),
    ("error_title", "エラー", "Error"),
    ("error_not_found", "お探しのページまたは患者は見つかりません。", "The page or patient you asked for was not found."),
    ("error_audit", "監査記録を書き込めないため、患者情報を表示できません。情報システム部門に連絡してください。", "The audit record could not be written, so no patient data can be shown. Contact hospital IT."),
    ("error_forbidden", "この操作は許可されていません。もう一度ログインしてください。", "This action is not allowed. Please log in again."),
    ("error_csrf", "フォームの有効期限が切れました。ページを再読み込みしてやり直してください。", "The form has expired. Reload the page and try again."),
    ("error_mode", "現在のモードでは患者情報を閲覧できません。", "Patient data cannot be viewed in the current mode."),
    ("error_bad_request", "入力内容を確認してください。", "Please check what you entered."),
    ("error_internal", "問題が発生しました。もう一度お試しください。続く場合は情報システム部門に連絡してください。", "Something went wrong. Try again; if it keeps happening, contact hospital IT."),
    ("error_expired", "セッションの有効期限が切れました。もう一度ログインしてください。", "Your session has expired. Please log in again."),
    ("go_home", "最初の画面へ", "Back to start"),
    ("logged_out", "ログアウトしました。", "You have been logged out."),
    ("admin", "管理", "Admin"),
    ("standby_info", "現在は通常運用中です。非常時アカウントでのログインはできません。", "Normal operation: emergency accounts cannot log in."),
    ("age_unknown", "年齢不明", "age unknown"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn accept_language_picks_english_only_when_preferred() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Ja);
        h.insert(
            "accept-language",
            HeaderValue::from_static("en-US,en;q=0.9"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert("accept-language", HeaderValue::from_static("ja,en;q=0.8"));
        assert_eq!(Lang::from_headers(&h), Lang::Ja);
        h.insert("accept-language", HeaderValue::from_static("fr"));
        assert_eq!(Lang::from_headers(&h), Lang::Ja);
        h.insert("cookie", HeaderValue::from_static("akari_lang=en"));
        h.insert("accept-language", HeaderValue::from_static("ja"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
    }

    /// Every `s("key")` used in a template exists, in both languages, non-empty.
    #[test]
    fn every_template_key_is_translated() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split("s(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                let found = MESSAGES.iter().find(|(k, _, _)| *k == key);
                let (_, ja, en) = found.unwrap_or_else(|| panic!("missing message key {key}"));
                assert!(!ja.is_empty() && !en.is_empty(), "{key}");
                checked += 1;
            }
        }
        assert!(checked > 50, "only {checked} keys found");
    }
}
