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

    /// The request's language: set once per request by the
    /// [`crate::error::render_error_pages`] layer, read from the headers where that layer
    /// did not run.
    pub fn of(parts: &axum::http::request::Parts) -> Lang {
        parts
            .extensions
            .get::<Lang>()
            .copied()
            .unwrap_or_else(|| Lang::from_headers(&parts.headers))
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

/// The reader's language and the hospital's clock, handed to templates:
/// `{{ c.tr.s("key") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
    /// Every time shown is on this clock, with its abbreviation.
    pub zone: akari_accounts::Zone,
}

/// [`MESSAGES`] by key: a page looks up dozens of strings per render.
static BY_KEY: std::sync::LazyLock<
    std::collections::HashMap<&'static str, (&'static str, &'static str)>,
> = std::sync::LazyLock::new(|| {
    MESSAGES
        .iter()
        .map(|(k, ja, en)| (*k, (*ja, *en)))
        .collect()
});

impl Tr {
    pub fn s(&self, key: &str) -> &'static str {
        match BY_KEY.get(key) {
            Some((ja, en)) => match self.lang {
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
    ("login_help", "封筒の中の用紙に書かれたアカウントIDと資格情報を入力してください。", "Enter the account ID and credential printed on the sheet inside the sealed envelope."),
    ("account_id", "アカウントID", "Account ID"),
    ("credential", "資格情報", "Credential"),
    ("login", "ログイン", "Log in"),
    ("login_refused", "ログインできませんでした。アカウントIDと資格情報を確認してください。", "Login refused. Check the account ID and the credential."),
    ("login_backoff", "失敗が続いたため、{secs}秒待ってから再度お試しください。", "Too many failures: wait {secs} s and try again."),
    ("key_title", "セキュリティキーの確認", "Security key"),
    ("key_help", "このアカウントにはセキュリティキーが登録されています。キーを差し込み、下のボタンを押して、キーに触れ PIN を入力してください。", "This account has a security key. Insert the key, press the button below, touch the key and enter its PIN."),
    ("key_button", "セキュリティキーで確認", "Use the security key"),
    ("key_waiting", "キーに触れ、PIN を入力してください…", "Touch the key and enter its PIN…"),
    ("key_restart", "最初からやり直す", "Start again"),
    ("key_needs_js", "このアカウントはセキュリティキーが必要です。キーの確認には JavaScript が必要です。JavaScript を有効にするか、キーのない非常時アカウントを使ってください。", "This account needs its security key, and the key step needs JavaScript: enable JavaScript or use an emergency account without a key."),
    ("key_cancelled", "セキュリティキーの確認が取り消されたか、このアカウントのキーが見つかりませんでした。登録されたキーを差し込んで、最初からやり直してください。", "The security key step was cancelled, or this account's key was not found. Insert the enrolled key and start again."),
    ("key_unsupported", "このブラウザはセキュリティキーに対応していません。別の端末か、キーのない非常時アカウントを使ってください。", "This browser does not support security keys. Use another PC or an emergency account without a key."),
    ("key_missing", "このアカウントはセキュリティキーが必要ですが、キーの応答がありませんでした。キーを差し込んで、最初からやり直してください。", "This account needs its security key, but no key answered. Insert the key and start again."),
    ("key_refused", "ログインできませんでした。資格情報が違うか、このアカウントに登録されたキーではありません。用紙とキーを確認して、最初からやり直してください。", "Login refused: the credential is wrong or this is not the key enrolled for this account. Check the sheet and the key, then start again."),
    ("page", "ページ", "page"),
    ("page_prev", "前へ", "Previous"),
    ("page_next", "次へ", "Next"),
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
    ("search_help", "患者ID・カナ・漢字氏名・生年月日（例 1950-04-01）のどれでも検索できます。同姓同名が多いときは氏名と生年月日を空白で区切って入力（例 ヤマダ タロウ S25.4.1）。", "Search by hospital ID, kana, kanji name or birth date (e.g. 1950-04-01). For a common name, type the name and the birth date separated by a space (e.g. ヤマダ タロウ 1950-04-01)."),
    ("search_button", "検索", "Search"),
    ("id_also_birth_date", "患者IDとして検索しました。生年月日で探す場合:", "Searched as a hospital ID. To search by birth date instead:"),
    ("search_birth_date", "生年月日で検索", "Search birth date"),
    ("results", "検索結果", "Results"),
    ("no_results", "該当する患者はいません。", "No matching patient."),
    ("more_results", "該当する患者が多いため一部のみ表示しています。氏名に生年月日を空白で続けるか（例 ヤマダ タロウ S25.4.1）、患者IDで検索してください。", "More patients match than are listed. Add the birth date after the name (e.g. ヤマダ タロウ 1950-04-01) or search by hospital ID."),
    ("name", "氏名", "Name"),
    ("kana", "カナ", "Kana"),
    ("age_sex", "年齢・性別", "Age, sex"),
    ("hospital_id", "患者ID", "Patient ID"),
    ("ward", "病棟", "Ward"),
    ("room", "病室", "Room"),
    ("bed", "ベッド", "Bed"),
    ("wards", "病棟一覧", "Wards"),
    ("outpatient", "外来", "Outpatient"),
    ("ward_bed", "病棟・病室・ベッド", "Ward, room, bed"),
    ("ward_census", "病棟患者一覧", "Ward census"),
    ("open", "開く", "Open"),
    ("print_ward", "病棟全員を印刷", "Print the whole ward"),
    ("print_patient", "この患者を印刷", "Print this patient"),
    ("labels", "患者ラベル", "Patient labels"),
    ("wristband", "リストバンド", "Wristband"),
    ("print_labels", "ラベル印刷", "Print labels"),
    ("print_wristband", "リストバンド印刷", "Print wristband"),
    ("print_ward_labels", "病棟全員のラベル", "Labels for the whole ward"),
    ("print_ward_wristbands", "病棟全員のリストバンド", "Wristbands for the whole ward"),
    ("labels_help", "A4 24面ラベル用紙（70 × 33.9 mm、3列 × 8段、上下余白 12.9 mm）に印刷します。印刷設定は倍率100%（実際のサイズ）・余白なし。バーコード（Code 128）とQRコードの内容は患者IDだけです。Ctrl+P / ⌘P", "Prints on A4 24-up label sheets (70 × 33.9 mm, 3 columns × 8 rows, 12.9 mm top and bottom margins). Print at 100 % (actual size) with no margins. The barcode (Code 128) and the QR code hold the patient ID and nothing else. Ctrl+P / ⌘P"),
    ("wristband_help", "25 × 250 mm のリストバンド用紙に1人1枚で印刷します（留め具側の左端 28 mm は空白）。印刷設定は倍率100%・余白なし。バーコードとQRコードの内容は患者IDだけです。Ctrl+P / ⌘P", "Prints one 25 × 250 mm wristband strip per patient (the 28 mm at the clasp end, left, stays blank). Print at 100 % with no margins. The barcode and the QR code hold the patient ID and nothing else. Ctrl+P / ⌘P"),
    ("label_drill", "訓練", "DRILL"),
    ("scan_help", "リストバンドやラベルのバーコード・QRコードを読み取ると（またはIDを正確に入力すると）、その患者の画面が開きます。", "Scan the barcode or QR code of a wristband or label (or type the ID in full) to open that patient directly."),
    ("scan_field", "バーコード読み取り", "Scan a barcode"),
    ("print_now", "印刷する", "Print"),
    ("markers", "注意", "Alerts"),
    ("marker_allergy", "アレルギー", "Allergy"),
    ("marker_infection", "感染症", "Infection"),
    ("allergies", "アレルギー・薬剤禁忌", "Allergies and drug contraindications"),
    ("no_known_allergies", "登録されたアレルギー・禁忌はありません（未確認の可能性あり）", "No allergies or contraindications recorded (may be unchecked)"),
    ("drug_contraindication", "薬剤禁忌", "DRUG"),
    ("criticality_high", "重篤", "HIGH RISK"),
    ("reaction", "症状", "Reaction"),
    ("criticality_low", "低リスク", "LOW RISK"),
    ("criticality_unable", "リスク評価不能", "RISK NOT ASSESSABLE"),
    ("severity", "重症度", "Severity"),
    ("severity_severe", "重度", "severe"),
    ("severity_moderate", "中等度", "moderate"),
    ("severity_mild", "軽度", "mild"),
    ("allergy_none_confirmed", "アレルギーなし（確認済み）", "No known allergies (confirmed)"),
    ("allergy_none_unconfirmed", "アレルギーなし（未確認）", "No known allergies (not confirmed)"),
    ("deceased", "死亡", "Deceased"),
    ("blood_type", "血液型", "Blood type"),
    ("attending", "主治医", "Attending physician"),
    ("care_team", "担当者・連絡先", "Care team and contacts"),
    ("orders", "未実施のオーダー", "Pending orders"),
    ("order_urgent", "至急", "URGENT"),
    ("requester", "依頼", "Requested by"),
    ("findings", "その他の測定・所見", "Other readings and findings"),
    ("time_unknown", "日時不明", "time unknown"),
    ("reports", "検査レポート（画像・病理など）", "Reports (imaging, pathology, ...)"),
    ("report_imaging", "画像", "Imaging"),
    ("report_pathology", "病理", "Pathology"),
    ("report_laboratory", "検体検査", "Laboratory"),
    ("report_other", "その他", "Other"),
    ("conclusion", "結論", "Conclusion"),
    ("immunizations", "予防接種", "Immunizations"),
    ("lot", "ロット", "Lot"),
    ("infections", "感染症", "Infections"),
    ("positive", "陽性", "Positive"),
    ("negative", "陰性", "Negative"),
    ("flags", "注意事項", "Flags"),
    ("flag_dnr", "DNR（蘇生不要）", "DNR"),
    ("flag_isolation", "隔離", "Isolation"),
    ("flag_fall", "転倒リスク", "Fall risk"),
    ("flag_other", "注意", "Alert"),
    ("prescriptions", "処方（服用中・最近終了）", "Prescriptions (in effect, recently ended)"),
    ("rx_start", "開始日", "Start"),
    ("rx_days", "日数", "Days"),
    ("prescriber", "処方医", "Prescriber"),
    ("medication", "薬剤", "Medication"),
    ("dose", "用量", "Dose"),
    ("route", "経路", "Route"),
    ("timing", "用法", "Timing"),
    ("prn", "頓用", "PRN"),
    ("mar", "与薬記録（72時間）", "Medication administrations (72 h)"),
    ("no_mar", "72時間以内の与薬記録はありません。", "No administrations in the last 72 h."),
    ("due_next", "次の投与予定（24時間）", "Doses due next (24 h)"),
    ("due_basis", "このノードの時計で今から24時間の予定です。データ時刻より後の処方変更・投与記録は含まれません。", "The next 24 h by this node's clock. Prescription changes and doses recorded after the data time are not included."),
    ("due_at", "予定時刻", "Due"),
    ("last_given", "最終投与", "Last given"),
    ("due_none", "投与中の処方はありません。", "No prescriptions in effect."),
    ("due_prn", "頓用：定時の予定なし", "As needed: no scheduled time"),
    ("due_uncomputable", "用法から時刻を計算できません（指示を確認）", "The timing gives no computable time (check the order)"),
    ("due_no_timing", "用法の記録なし（時刻不明）", "No timing recorded (time unknown)"),
    ("due_interval_unanchored", "間隔投与：起点となる投与記録がなく時刻不明", "Interval dosing: no recorded dose to count from, time unknown"),
    ("due_none_in_window", "24時間以内の予定なし", "None due in the next 24 h"),
    ("given_sign", "実施時刻・サイン", "Time given / signature"),
    ("print_pdf", "PDFをダウンロード", "Download PDF"),
    ("print_mar_packet", "与薬パケットを印刷", "Print the MAR packet"),
    ("mar_packet", "病棟与薬パケット", "Ward MAR packet"),
    ("mar_sheet", "24時間与薬表", "24-hour MAR sheet"),
    ("blank_mar", "空白与薬表（新規入院用）", "Blank MAR (new admission)"),
    ("blank_mar_days", "{n}日用", "{n} days"),
    ("day_n", "{n}日目", "Day {n}"),
    ("data_time", "データ時刻", "Data time"),
    ("labs", "検査結果", "Lab results"),
    ("test", "検査項目", "Test"),
    ("value", "値", "Value"),
    ("reference", "基準値", "Reference"),
    ("abnormal", "異常", "Abnormal"),
    ("time", "日時", "Time"),
    ("vitals", "バイタルサイン（72時間）", "Vital signs (72 h)"),
    ("no_vitals", "72時間以内のバイタルサインはありません。", "No vital signs in the last 72 h."),
    ("lab_latest", "最新", "Latest"),
    ("lab_previous", "前回まで（新しい順）", "Earlier (newest first)"),
    ("lab_more", "ほか", "more:"),
    ("problems", "傷病名", "Problems"),
    ("documents", "文書", "Documents"),
    ("none", "なし", "None"),
    ("status", "状態", "Status"),
    ("staff_notice", "お知らせ", "Notice"),
    ("notice_title", "職員へのお知らせ（全画面・印刷に表示）", "Staff notice (on every page and printout)"),
    ("notice_help", "例：検査結果は内線1234へ電話で。患者情報は書かないでください。200文字まで。掲示と取り下げは監査記録に残ります。", "E.g. \"Lab results by phone to ext. 1234\". No patient data. Up to 200 characters. Posting and withdrawing are recorded in the audit ledger."),
    ("notice_post", "掲示する", "Post"),
    ("notice_withdraw", "取り下げる", "Withdraw"),
    ("notice_none", "現在お知らせはありません。", "No notice is shown."),
    ("status_unknown_code", "未知の状態", "unknown status"),
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
    ("error_record_audit", "監査記録を書き込めないため、この記録は受け付けられませんでした。何も保存されていません。紙の記録用紙に記入し、情報システム部門に連絡してください。", "The audit record could not be written, so this entry was refused. Nothing was stored. Write it on the paper downtime form and contact hospital IT."),
    ("error_record_store", "記録を保存できませんでした（監査記録には残っています）。紙の記録用紙に記入し、情報システム部門に連絡してください。", "The entry could not be stored (the audit record was written). Write it on the paper downtime form and contact hospital IT."),
    ("downtime", "停電中記録", "Downtime record"),
    ("downtime_records", "停電中の記録（投与・バイタル・記事）", "Recorded during the outage (administrations, vital signs, notes)"),
    ("downtime_panel", "停電中記録（復旧後の照合）", "Downtime records (reconciliation after recovery)"),
    ("downtime_panel_help", "停電中に記録された投与・バイタル・記事です。病院の記録に入力し終えたら照合済みにします。署名付きの一式（FHIR・照合リスト）はコンソールの akari downtime export で書き出します。", "Administrations, vital signs and notes recorded during the outage. Mark them reconciled once entered into the hospital's records. The signed set (FHIR, reconciliation list) is written at the console with akari downtime export."),
    ("downtime_unreconciled", "未照合", "Un-reconciled"),
    ("downtime_csv", "照合リスト(CSV)", "Reconciliation list (CSV)"),
    ("downtime_archive", "署名付き書き出し(zip)", "Signed export (zip)"),
    ("downtime_pdf", "照合リスト(PDF)", "Reconciliation list (PDF)"),
    ("downtime_confirm", "病院の記録に入力済み", "entered into the hospital's records"),
    ("downtime_mark", "照合済みにする", "Mark reconciled"),
    ("downtime_none", "停電中の記録はありません。", "Nothing recorded during the outage."),
    ("downtime_unreadable", "停電中の記録を読み出せません。紙の記録を確認してください。", "The downtime records cannot be read: check the paper records."),
    ("downtime_recorded", "記録しました", "Recorded"),
    ("downtime_refused", "記録できませんでした", "Not recorded"),
    ("downtime_by", "記録者", "Recorded by"),
    ("downtime_at", "記録日時", "Recorded at"),
    ("downtime_refers", "実施・測定日時", "Time"),
    ("downtime_kind", "種類", "Kind"),
    ("downtime_content", "内容", "Content"),
    ("downtime_superseded", "訂正済み", "Corrected by"),
    ("downtime_corrects", "訂正", "Corrects"),
    ("downtime_correct", "訂正する", "Correct"),
    ("downtime_reason", "訂正理由", "Reason for the correction"),
    ("downtime_outside_ward", "担当外病棟", "Outside the account's wards"),
    ("downtime_record_dose", "投与を記録", "Record administration"),
    ("downtime_record_vitals", "バイタルサインを記録", "Record vital signs"),
    ("downtime_record_note", "記事を記録", "Record a note"),
    ("downtime_record_unlisted", "一覧にない薬剤の投与を記録", "Record a drug not on the list"),
    ("downtime_time_hint", "空欄なら現在時刻", "Empty: now"),
    ("downtime_scheduled", "予定時刻", "Scheduled"),
    ("downtime_no_time", "時刻指定なし", "No scheduled time"),
    ("downtime_outcome", "実施", "Outcome"),
    ("downtime_given", "実施", "Given"),
    ("downtime_held", "保留", "Held"),
    ("downtime_refused_dose", "拒否", "Refused"),
    ("downtime_drug", "薬剤名", "Drug"),
    ("downtime_site", "部位", "Site"),
    ("downtime_note", "備考", "Note"),
    ("downtime_submit", "記録する", "Record"),
    ("downtime_temp", "体温(℃)", "Temp (°C)"),
    ("downtime_pulse", "脈拍(/分)", "Pulse (/min)"),
    ("downtime_bp", "血圧(mmHg)", "BP (mmHg)"),
    ("downtime_rr", "呼吸数(/分)", "Resp. (/min)"),
    ("downtime_spo2", "SpO2(%)", "SpO2 (%)"),
    ("downtime_pain", "疼痛(0-10)", "Pain (0-10)"),
    ("downtime_consciousness", "意識", "Consciousness"),
    ("downtime_author", "記事の種類", "Note by"),
    ("downtime_nursing", "看護記事", "Nursing"),
    ("downtime_physician", "医師記事", "Physician"),
    ("downtime_text", "本文", "Text"),
    ("error_audit", "監査記録を書き込めないため、患者情報を表示できません。情報システム部門に連絡してください。", "The audit record could not be written, so no patient data can be shown. Contact hospital IT."),
    ("error_forbidden", "この操作は許可されていません。もう一度ログインしてください。", "This action is not allowed. Please log in again."),
    ("error_csrf", "フォームの有効期限が切れました。ページを再読み込みしてやり直してください。", "The form has expired. Reload the page and try again."),
    ("error_mode", "現在のモードでは患者情報を閲覧できません。", "Patient data cannot be viewed in the current mode."),
    ("error_bad_request", "入力内容を確認してください。", "Please check what you entered."),
    ("error_too_large", "送信された内容が大きすぎます（上限 64 KiB）。入力を短くして、もう一度お試しください。", "What was sent is too large (the limit is 64 KiB). Shorten the input and try again."),
    ("error_print_font", "このノードにはPDF用の日本語フォントがないため、PDFは作れません。画面の「印刷する」ボタンで印刷できます。管理者へ：apt-get install fonts-noto-cjk、または akari.toml の [print] font にフォントファイルを設定して再起動してください。", "This node has no Japanese font for PDFs, so no PDF can be made. Use the Print button on the page instead. For the administrator: apt-get install fonts-noto-cjk, or set [print] font in akari.toml to a font file, and restart."),
    ("error_internal", "問題が発生しました。もう一度お試しください。続く場合は情報システム部門に連絡してください。", "Something went wrong. Try again; if it keeps happening, contact hospital IT."),
    ("error_expired", "セッションの有効期限が切れました。もう一度ログインしてください。", "Your session has expired. Please log in again."),
    ("go_home", "最初の画面へ", "Back to start"),
    ("logged_out", "ログアウトしました。", "You have been logged out."),
    ("admin", "管理", "Admin"),
    ("standby_info", "現在は通常運用中です。非常時アカウントでのログインはできません。", "Normal operation: emergency accounts cannot log in."),
    ("age_unknown", "年齢不明", "age unknown"),
    ("age_implausible", "⚠年齢要確認", "⚠ check age"),
    ("born_implausible", "（生年月日要確認）", " (check birth date)"),
    // ---- admin and review pages
    ("ledger_disk_alert", "監査記録のディスク容量不足", "Audit ledger disk low"),
    ("ledger_disk_text", "空き {free}（全体 {total}）が予備領域 {reserve} を下回りました。満杯になると監査記録を書けず、患者情報を表示できなくなります。空き容量を確保するか、データディレクトリを大きなディスクへ移してください。", "{free} free of {total}, below the reserve of {reserve}. Once it is full no audit entry can be written and no patient data is shown: free space on it, or move the data directory to a larger disk."),
    ("integrity_alert", "スナップショットの整合性警告", "Snapshot integrity alert"),
    ("integrity_damaged", "検証に失敗した世代を検出", "damaged generations found"),
    ("integrity_restored", "検証済みの世代に切り替え済み", "switched to a verified generation"),
    ("integrity_nothing_restored", "検証に通る世代がなく、切り替えていません", "no retained generation verified; nothing was switched"),
    ("integrity_ack", "確認した（警告を消す）", "Acknowledge (clear the alert)"),
    ("integrity_file", "スナップショットファイルが使用できません", "the snapshot file could not be used"),
    ("integrity_moved_to", "退避先", "moved to"),
    ("integrity_from_copy", "予備コピーから復元して提供中", "restored from the second copy and served"),
    ("integrity_current_ok", "現在の世代は検証に通り提供中です。損傷した古い世代には戻せません", "the current generation verifies and is served; the damaged older generations can no longer be rolled back to"),
    ("integrity_no_copy", "使用できる予備コピーがなく、スナップショットがありません。フル同期を実行してください", "no usable second copy: the node holds no snapshot; run a full sync"),
    ("quarantine_alert", "同期の隔離", "Sync quarantined"),
    ("quarantine_text", "取り込んだデータが現在の世代より大きく減るため、提供せず隔離しました", "the pull would lose much of the current data: kept quarantined, not served"),
    ("quarantine_keep", "提供を続ける世代", "still served"),
    ("quarantine_check", "送信元を確認してください。減少が正しい場合のみ、その世代を昇格してください。", "Check the source. Promote the generation only if the loss is real."),
    ("state_quarantined", "隔離中", "quarantined"),
    ("state_promoted", "昇格済み", "promoted"),
    ("promote", "昇格（この世代を提供）", "Promote (serve this)"),
    ("state", "状態", "State"),
    ("alerts", "警告", "Alerts"),
    ("snapshot_key", "スナップショットの鍵", "Snapshot key"),
    ("snapshot_is_locked", "ロック中（封印アカウントまたは管理者のログインで解除）", "locked (a sealed-account or admin login unlocks it)"),
    ("snapshot_is_unlocked", "解除済み（閲覧可能）", "unlocked (readable)"),
    ("error_locked", "スナップショットは暗号化されロックされています。封印アカウントまたは管理者でログインすると解除されます。", "The snapshot is encrypted and locked: log in with a sealed account or as an admin to unlock it."),
    ("action", "操作", "Action"),
    ("address", "接続元", "Client address"),
    ("admin_bad_expiry", "有効期限は YYYY-MM-DD の形式で入力してください。", "Enter the expiry as YYYY-MM-DD."),
    ("admin_enrol_bad_code", "管理者IDまたは登録コードが正しくないか、期限切れか、新しいコードに置き換えられています。コンソールで akari admin new-code を実行するか、他の管理者に「管理者」ページで新しいコードを発行してもらってください。", "The admin ID or enrolment code is wrong, expired or replaced by a newer code. Get a new code at the console (akari admin new-code) or from another admin on the Admins page."),
    ("admin_enrol_button", "セキュリティキー／パスキーを登録", "Register security key / passkey"),
    ("admin_enrol_help", "コンソールの akari admin create で表示された登録コードを入力し、セキュリティキーまたはパスキーを登録します（PIN または生体認証が必要です）。", "Enter the enrolment code shown once by akari admin create at the console, then register a security key or passkey (PIN or biometrics required)."),
    ("admin_enrol_link", "初めての方：登録コードでキーを登録", "First time: register your key with the enrolment code"),
    ("admin_enrol_title", "管理者キーの登録", "Admin key enrolment"),
    ("admin_enrolled", "キーを登録しました。パスワードとキーでログインしてください。", "Your key is registered. Log in with your password and key."),
    ("admin_id", "管理者ID", "Admin ID"),
    ("admin_login_button", "ログイン（キーを使用）", "Log in (uses your key)"),
    ("admin_login_help", "情報システム部門の管理者用です。パスワードに加えて、登録済みのセキュリティキーまたはパスキー（PIN・生体認証）が必要です。", "For hospital IT administrators. Besides the password you need your registered security key or passkey (PIN or biometrics)."),
    ("admin_login_refused", "管理者ID・パスワード・キーのいずれかが正しくありません。", "The admin ID, password or key was not accepted."),
    ("admin_login_title", "管理者ログイン", "Admin login"),
    ("admin_nav_accounts", "非常時用アカウント", "Emergency accounts"),
    ("admin_nav_admins", "管理者", "Admins"),
    ("admin_nav_checkpoint", "署名チェックポイント", "Signed checkpoint"),
    ("admin_nav_review", "監査レビュー", "Audit review"),
    ("admin_nav_status", "状態・モード", "Status and mode"),
    ("admin_nav_sync", "同期・世代", "Sync and generations"),
    ("admin_needs_js", "キーによる認証には JavaScript が必要です。JavaScript を有効にしてください。", "The key step needs JavaScript; please enable it."),
    ("admin_recover_button", "実行", "Do it"),
    ("admin_recover_change", "回復の操作", "Recovery"),
    ("admin_recover_code", "新しい登録コード（旧コードは無効）", "New enrolment code (the old one stops working)"),
    ("admin_recover_help", "パスキーを紛失した・パスワードを忘れた管理者を、別の管理者が回復します。操作は実行前に監査ログに記録されます。自分のアカウントはここでは回復できません（他の管理者またはコンソールの akari admin を使います）。", "An admin who lost their passkey or forgot their password is recovered by another admin. Each act is recorded in the audit log before it takes effect. You cannot recover your own account here (another admin or `akari admin` at the console does it)."),
    ("admin_recover_own", "自分のアカウント（他の管理者またはコンソールで回復）", "Your own account (recovered by another admin or at the console)"),
    ("admin_recover_password", "パスワードを再設定（旧パスワードは無効）", "Reset the password (the old one stops working)"),
    ("admin_recover_replace", "すべてのパスキーを削除して新しい登録コード", "Remove every passkey and issue a new enrolment code"),
    ("admin_recovered_code", "登録コード（この画面でのみ表示）", "Enrolment code (shown only on this page)"),
    ("admin_recovered_code_help", "管理者本人に直接渡してください。本人は管理者ログイン画面の「登録コードでキーを登録」からキーを登録します。有効期限", "Hand it to the admin in person: they register a key from the admin login page's enrolment link. Expires"),
    ("admin_recovered_password", "新しいパスワード（この画面でのみ表示）", "New password (shown only on this page)"),
    ("admin_recovered_password_help", "管理者本人に直接渡してください。これまでのキーと新しいパスワードでログインします。この管理者のセッションは終了しました。", "Hand it to the admin in person: they log in with their key and this password. The admin's sessions have ended."),
    ("admin_recovered_title", "管理者を回復しました", "Admin recovered"),
    ("admin_refused", "実行できませんでした", "Not done"),
    ("admin_passkeys", "パスキー数", "Passkeys"),
    ("admin_pending_code", "未使用の登録コード", "Unused enrolment code"),
    ("admin_sessions", "管理者セッション", "Admin sessions"),
    ("admin_status_title", "ノードの状態", "Node status"),
    ("admin_webauthn_failed", "キーの応答を確認できませんでした。もう一度お試しください。", "The key's response could not be verified. Please try again."),
    ("all_wards", "全病棟", "All wards"),
    ("back_to_standby", "待機に戻す", "Back to standby"),
    ("checkpoint_now", "今すぐ署名する", "Sign a checkpoint now"),
    ("checkpoint_title", "監査ログの最新署名チェックポイント", "Latest signed checkpoint of the audit ledger"),
    ("comment", "コメント", "Comment"),
    ("corrupt_items", "破損", "damaged"),
    ("counts_match", "件数一致", "counts match"),
    ("created", "作成", "Created"),
    ("current", "現在", "current"),
    ("decided_by", "決定者", "Decided by"),
    ("declare_emergency", "非常時を宣言する", "Declare an emergency"),
    ("details", "詳細", "Details"),
    ("drill", "訓練", "Drill"),
    ("emergency", "非常時", "Emergency"),
    ("emergency_sessions", "非常時セッション", "Emergency sessions"),
    ("end_episode", "非常時／訓練を終了する", "End the emergency / drill"),
    ("ended", "終了", "Ended"),
    ("enrol_key", "キーを登録", "Enrol a key"),
    ("enrol_key_help", "このアカウントに FIDO2 セキュリティキーを登録します。以後のログインには資格情報とキー（PIN）の両方が必要です。", "Enrols a FIDO2 security key to this account. From then on logging in needs both the credential and the key (with its PIN)."),
    ("enrol_key_sealed_only", "キーは封印中のアカウントにのみ登録できます。", "A key can be enrolled only to a sealed account."),
    ("enrolment_code", "登録コード", "Enrolment code"),
    ("entries", "件数", "Entries"),
    ("episode", "エピソード", "Episode"),
    ("episodes", "エピソード一覧", "Episodes"),
    ("expiry", "有効期限", "Expiry"),
    ("export_title", "監査ログの書き出し", "Export the audit ledger"),
    ("flag_bulk_print", "大量印刷", "Bulk printing:"),
    ("flag_many_patients", "多数の患者を閲覧", "Many distinct patients:"),
    ("flag_outside_episode", "エピソード外のアクセス", "Access outside the episode"),
    ("flag_outside_scope", "担当病棟外の患者", "Patient outside the ward scope:"),
    ("flag_same_family_name", "申告者と同姓の患者", "Patient with the declared person's family name:"),
    ("flag_vip", "VIP・職員患者", "VIP or employee patient:"),
    ("flag_rapid", "短時間に多数の患者", "Many patients in little time:"),
    ("flag_episode_end", "エピソード終了直前のアクセス", "Records opened just before the episode ended:"),
    ("flag_never_closed", "ログアウト・失効の記録がないセッション", "Session never closed (no logout or expiry)"),
    ("no_ward", "病棟なし（外来・退院）", "on no ward (outpatient, discharged)"),
    ("full_sync", "全件同期", "Full sync"),
    ("generation", "世代", "Generation"),
    ("generations", "スナップショット世代", "Snapshot generations"),
    ("hash_matches", "ハッシュ一致", "hash matches"),
    ("items", "項目数", "Items"),
    ("items_checked", "検査項目", "items checked"),
    ("key", "キー", "Key"),
    ("kind", "種類", "Kind"),
    ("label", "名称", "Label"),
    ("last_attempt", "最終試行", "Last attempt"),
    ("last_error", "最後のエラー", "Last error"),
    ("last_full_success", "最終全件同期", "Last full sync"),
    ("sync_source", "同期元", "Source"),
    ("source_problems", "前回の同期で読めなかった／注意のあるファイル", "Files the last sync skipped or warned about"),
    ("source_skipped", "スキップしたファイル", "Files skipped"),
    ("last_success", "最終成功", "Last success"),
    ("main_unreachable", "基幹システムに接続できない状態が続いています：", "Main system unreachable for"),
    ("minutes", "分", "min"),
    ("seconds_before_end", "秒前（終了の）", "s before the end"),
    ("mode", "モード", "Mode"),
    ("no", "いいえ", "no"),
    ("no_checkpoint", "まだ署名チェックポイントがありません。", "There is no signed checkpoint yet."),
    ("no_episodes", "非常時・訓練の記録はまだありません。", "No emergency or drill has been recorded yet."),
    ("no_sessions", "このエピソードで使われた非常時セッションはありません。", "No emergency session was used in this episode."),
    ("node_public_key", "ノード公開鍵", "Node public key"),
    ("not_declared", "申告なし", "not declared"),
    ("opened_at", "開封", "Opened"),
    ("password", "パスワード", "Password"),
    ("patient_key", "患者キー（不透明）", "Patient key (opaque)"),
    ("review_by_patient", "患者から調べる（この患者を見たセッション）", "Start from a patient (sessions that saw them)"),
    ("review_names_audited", "患者名の表示と患者からの検索は、表示の前に閲覧者・対象・目的とともに監査ログに記録されます。", "Showing names and looking up a patient are recorded in the audit ledger, with who, which patients and why, before anything is shown."),
    ("patient_query", "患者（氏名・カナ・患者ID）", "Patient (name, kana or hospital ID)"),
    ("review_purpose", "目的（記録されます）", "Purpose (recorded)"),
    ("review_patients_found", "該当する患者", "Patients found"),
    ("review_no_sightings", "この患者を見たセッションはありません。", "No session saw this patient."),
    ("review_seen_how", "見た記録", "How it was seen"),
    ("seen_read", "カルテ閲覧", "record opened"),
    ("seen_printed", "印刷", "printed"),
    ("seen_ward_printed", "病棟一括印刷", "printed with the ward"),
    ("seen_search_result", "検索結果に表示", "listed in search results"),
    ("seen_ward_list", "病棟一覧に表示", "listed on a ward list"),
    ("review_show_names", "患者名を表示", "Show patient names"),
    ("review_opened", "閲覧・印刷した患者", "Records opened or printed"),
    ("review_listed", "検索結果・病棟一覧に表示された患者", "Listed in search results or ward lists"),
    ("not_in_snapshot", "現在のスナップショットにない患者", "not in the current snapshot"),
    ("purpose_required", "患者名を表示する目的を入力してください（監査ログに記録されます）。", "Say why the names are needed: the purpose is recorded in the audit ledger."),
    ("review_locked", "スナップショットがロックされているため患者名を表示できません。管理者として再ログインするか、コンソールで akari unlock を実行してから、もう一度お試しください。", "The snapshot is locked, so names cannot be shown: log in again as an admin or run akari unlock at the console, then try again."),
    ("review_csv_purpose", "患者名を含める目的（空欄なら患者キーのみ）", "Purpose for including names (empty: keys only)"),
    ("sign_off", "承認（エピソード全体の判定）", "Sign-off (verdict on the whole episode)"),
    ("sign_off_none", "まだ承認されていません。", "Not signed off yet."),
    ("sign_off_no_issues", "問題なし", "No issues"),
    ("sign_off_needs_check", "要確認", "Needs checking"),
    ("sign_off_inappropriate", "不適切", "Inappropriate"),
    ("record_sign_off", "承認を記録", "Record sign-off"),
    ("review_report", "監査レビュー報告", "Review report"),
    ("review_pdf", "印刷用 PDF", "Printable PDF"),
    ("patient", "患者", "Patient"),
    ("in_progress", "継続中", "still in progress"),
    ("no_flags", "印なし", "No flags"),
    ("no_verdict", "判定なし（未レビュー）", "No verdict yet (not reviewed)"),
    ("patients", "患者数", "Patients"),
    ("pending", "未送信", "pending"),
    ("pin", "保持", "Pin"),
    ("print", "印刷", "Print"),
    ("printed", "印刷数", "Printed"),
    ("provision_button", "発行して封印用紙を表示", "Provision and show the seal sheet"),
    ("provision_not_now", "非常時・訓練中は発行できません。終了後に発行してください。", "Accounts cannot be provisioned during an emergency or drill; provision after it ends."),
    ("provision_title", "非常時用アカウントの発行", "Provision an emergency account"),
    ("published_remote", "外部送信済み", "Pushed to remote"),
    ("published_removable", "外部媒体に書き出し済み", "Written to removable path"),
    ("record_verdict", "判定を記録", "Record verdict"),
    ("reseal", "再封印", "Re-seal"),
    ("revoke", "失効", "Revoke"),
    ("rollback", "この世代に戻す", "Roll back to this"),
    ("seal_done", "封入しました（一覧へ）", "Sealed in the envelope (back to list)"),
    ("seal_number", "封印番号", "Seal number"),
    ("seal_opened", "開封済み", "Opened"),
    ("seal_retired", "使用済み", "Retired"),
    ("seal_revoked", "失効", "Revoked"),
    ("seal_sealed", "封印中", "Sealed"),
    ("seal_sheet_title", "封印用紙", "Seal sheet"),
    ("seal_shown_once", "資格情報はこの画面で一度だけ表示されます。今すぐ印刷して封筒に封入してください。再表示はできません。", "The credential is shown on this page once only. Print it now and seal it in the envelope; it can never be shown again."),
    ("searches", "検索数", "Searches"),
    ("session", "セッション", "Session"),
    ("sessions", "セッション", "Sessions"),
    ("signature", "署名", "Signature"),
    ("signature_invalid", "署名が無効です", "signature INVALID"),
    ("signature_valid", "署名は有効です（ノード公開鍵で検証）", "signature valid (checked with the node key)"),
    ("signed_at", "署名時刻", "Signed at"),
    ("since", "開始", "Since"),
    ("start_drill", "訓練を開始する", "Start a drill"),
    ("started", "開始", "Started"),
    ("sync_already_running", "同期は既に実行中です。", "A sync is already running."),
    ("sync_now", "今すぐ同期", "Sync now"),
    ("sync_refused", "取り込みを拒否した同期", "Refused pull"),
    ("deletions", "削除", "Deletions"),
    ("sync_deletions_pending", "同期元が削除を報告しなかったため、前回の完全同期以降に削除された情報は次の完全同期まで表示に残ります。", "The source did not report deletions: what was deleted since the last full sync stays visible until the next full sync."),
    ("sync_last_report", "最後の同期の報告 世代", "Last sync report, generation"),
    ("resources_received", "受信した資源", "Resources received"),
    ("rejected", "拒否（保存せず）", "Rejected (not stored)"),
    ("warned", "警告付きで保存・表示", "Kept with a warning"),
    ("resource_type", "資源の種類", "Resource type"),
    ("types_not_kept", "保存しない資源の種類", "Types not kept"),
    ("dropped_by_rule", "規則で除外", "Not kept by rule"),
    ("warn_profile_violation", "プロファイル要件を満たさない（内容は表示）", "does not meet the profile it claims (shown)"),
    ("warn_invalid_time", "日時が読めない（日時不明として表示）", "time does not parse (shown as unknown)"),
    ("warn_invalid_value", "使えない値の項目を除いて表示", "an unusable field left out (rest shown)"),
    ("warn_unexpected_status", "想定外のステータス（そのまま表示）", "unexpected status (shown as given)"),
    ("warn_unrecognised_category", "カテゴリが不明（コードで分類）", "category missing or unknown (placed by code)"),
    ("warn_unresolved_location", "Location が届いていない（表示名で病棟を判断）", "Location not sent (ward from display text)"),
    ("reject_no_patient", "患者が特定できない", "names no known patient"),
    ("reject_missing_code", "何の記録か分からない（コードも名称もない）", "nothing says what it is (no code, no text)"),
    ("reject_not_fhir", "FHIR として読めない", "not readable as FHIR"),
    ("sync_warned_summary", "最後の同期でデータ品質の警告付きで保存した資源", "Resources kept with data-quality warnings by the last sync"),
    ("sync_running", "同期実行中", "Sync running"),
    ("unpin", "保持解除", "Unpin"),
    ("verdict_drill", "訓練", "Drill"),
    ("verdict_follow_up", "要フォローアップ", "Needs follow-up"),
    ("verdict_legitimate", "正当な非常時利用", "Legitimate emergency"),
    ("verdict_misuse", "不正利用", "Misuse"),
    ("verify", "検証", "Verify"),
    ("verify_ok", "検証成功", "Verification passed"),
    ("verify_failed", "検証失敗", "Verification FAILED"),
    ("ward_scope", "対象病棟", "Ward scope"),
    ("ward_scope_hint", "空欄で全病棟、または「5階西, 6階東」", "Empty for all wards, or \"5F-West, 6F-East\""),
    ("yes", "はい", "yes"),
    ("confirm_irreversible", "取り消せない操作であることを理解しました", "I understand this cannot be undone"),
    ("confirm_rollback", "現在の世代の表示をやめ、この世代に戻すことを理解しました", "I understand the current generation stops being served"),
    ("confirm_missing", "取り消せない操作です。確認欄にチェックを入れてから実行してください。何も変更していません。", "This cannot be undone: tick the confirmation box, then try again. Nothing was changed."),
    ("mode_reason", "変更理由", "Reason for the change"),
    ("start_reason", "開始理由", "Reason for starting"),
    ("declare_reason_required", "宣言理由（必須）", "Reason for declaring (required)"),
    ("end_reason", "終了理由", "Reason for ending"),
    ("standby_reason", "平常時に戻す理由", "Reason for returning to standby"),
    ("revoke_reason", "失効理由", "Reason for revoking"),
    ("episode_reason", "開始理由", "Reason given at the start"),
    ("sync_reason", "理由", "Reason"),
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
        assert_eq!(
            BY_KEY.len(),
            MESSAGES.len(),
            "a message key is listed twice"
        );
    }

    /// The login page names the secret with the seal sheet's word (資格情報 / credential):
    /// the nurse holding the sheet finds the same word on the screen.
    #[test]
    fn the_login_page_and_the_seal_sheet_name_the_credential_alike() {
        let (_, ja, en) = MESSAGES
            .iter()
            .find(|(k, _, _)| *k == "credential")
            .unwrap();
        let sheet_ja = akari_accounts::sheet::INSTRUCTIONS_JA.join("");
        let sheet_en = akari_accounts::sheet::INSTRUCTIONS_EN.join("");
        assert!(sheet_ja.contains(ja), "the sheet says {sheet_ja}");
        assert!(
            sheet_en.contains(&en.to_lowercase()),
            "the sheet says {sheet_en}"
        );
        for key in ["login_help", "login_refused", "key_refused"] {
            let (_, ja_text, _) = MESSAGES.iter().find(|(k, _, _)| *k == key).unwrap();
            assert!(ja_text.contains(ja), "{key}: {ja_text}");
        }
    }
}
