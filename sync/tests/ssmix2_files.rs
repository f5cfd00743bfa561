//! SS-MIX2 files: one fixture per data type of the published spec samples (synthetic
//! values in the samples' field layout) parses and maps; broken files are skipped or
//! warned with a per-file reason while the rest of the pull succeeds; mutated files never
//! panic the reader and its notes never carry the file's content.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use akari_sync::engine::CancellationToken;
use akari_sync::model::{Sex, VitalKind};
use akari_sync::source::ssmix2::er7::Note;
use akari_sync::source::ssmix2::layout::{self, FileName};
use akari_sync::source::ssmix2::map::Out;
use akari_sync::source::ssmix2::{convert_file, Settings, Ssmix2Source};
use akari_sync::{Config, Engine, SnapshotReader, Store, StoreOptions};
use chrono::{Duration, FixedOffset, Utc};

const PID: &str = "0000123456";

/// Dates relative to now (so results fall inside the record's time windows), in JST.
struct Dates {
    d0: String,
    d1: String,
    d3: String,
    d10: String,
}

fn dates() -> Dates {
    let now = Utc::now().with_timezone(&FixedOffset::east_opt(9 * 3600).unwrap());
    let d = |days: i64| (now - Duration::days(days)).format("%Y%m%d").to_string();
    Dates {
        d0: d(0),
        d1: d(1),
        d3: d(3),
        d10: d(10),
    }
}

const MSH: &str = "MSH|^~\\&|HIS|SEND|GW|RCV|{T}||{TYPE}|{T}|P|2.5||||||~ISO IR87||ISO 2022-1994|SS-MIX2_1.20^SS-MIX2^1.2.392.200250.2.1.100.1.2.120^ISO";
const PIDSEG: &str = "PID|0001||0000123456^^^^PI||試験^花子^^^^^L^I~シケン^ハナコ^^^^^L^P||19500214|F|||^^^^100-0001^JPN^H^東京都千代田区千代田１－１||^PRN^PH^^^^^^^^^03-0000-0000";

/// (folder date key, data type, order No, department, message type, body segments).
fn fixtures(
    d: &Dates,
) -> Vec<(
    String,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
)> {
    let mut v = Vec::new();
    let mut add = |date: &str,
                   dtype: &'static str,
                   order: &'static str,
                   dept: &'static str,
                   mtype: &'static str,
                   body: String| {
        v.push((date.to_string(), dtype, order, dept, mtype, body));
    };
    let nd = layout::NO_ORDER;
    add("-", "ADT-00", nd, "-", "ADT^A08^ADT_A01", format!(
        "EVN||{d1}0900|||||SEND001\r{PIDSEG}\rNK1|1|試験^太郎^^^^^L^I~シケン^タロウ^^^^^L^P|SPO^配偶者^HL70063\rPV1|0001|I|3E^301^1^^^N||||220^医師^一郎^^^^^^^L^^^^^I\rDB1|1|PT||Y\rOBX|1|NM|9N001000000000001^身長^JC10||152.4|cm^cm^ISO+|||||F||||{d1}0900\rOBX|2|NM|9N006000000000001^体重^JC10||48.5|kg^kg^ISO+|||||F||||{d1}0900\rOBX|3|CWE|5H010000009199911^血液型-ABO式^JC10||A^A^JSHR002||||||F\rAL1|1|DA^薬剤アレルギー^HL70127|1^ペニシリン系^99XYZIN1|SV^重度^HL70128|発疹|20090101\rAL1|2|DA^薬剤アレルギー^HL70127|1^ペニシリン系^99XYZIN1|SV^重度^HL70128|発疹|20090101\rIN1|1|67^国民健康保険^JHSD0001|67999991",
        d1 = d.d1));
    add("-", "ADT-61", nd, "-", "ADT^A60^ADT_A60", format!(
        "EVN||{d10}0000\r{PIDSEG}\rIAM|1|LA^花粉アレルギー^HL70127|5A1002216023023^スギ^JC10|MI^軽度^HL70128|目のかゆみ|A^追加^HL70323|A-1||||199601||||||C^^HL70438\rIAM|2|FA^食物アレルギー^HL70127|5A1002411023006^ソバ^JC10|SV^重度^HL70128|呼吸困難~蕁麻疹|A^追加^HL70323|A-2||||||{d10}1000\rIAM|3|EA^環境アレルギー^HL70127|^ハウスダスト^99XYZ|MO^中等度^HL70128|くしゃみ|A^追加^HL70323|A-3\rIAM|4|DA^薬剤アレルギー^HL70127|100000001^ロキソプロフェン^HOT9|MO^中等度^HL70128|喘息発作|D^削除^HL70323|A-4",
        d10 = d.d10));
    add("-", "PPR-01", nd, "01", "PPR^ZD1^PPR_ZD1", format!(
        "{PIDSEG}\rPRB|AD|{d10}|20054174^胃炎^MDCDX2|P-1|||{d10}0900|||K297^^I10^O^外来時^JHSD0004||||N^回復せず^HL70241|{d10}|{d10}|胃炎|1^主診断^JHSD0007\rZPR||20054174^胃炎^MDCDX2\rPRB|AD|{d10}|20057563^肺炎^MDCDX2|P-2|||{d10}0900||{d3}|J189^^I10|||S^疑い^99XYZ|F^治癒^HL70241|||{d10}\rPRB|DE|{d10}|20061234^骨折^MDCDX2|P-3|||{d10}0900|||S720^^I10\rZI1|1|01^全国健康保険協会管掌健康保険^JHSD0001\rORC|NW|123456789012345||||||||||110^医師^一郎^^^^^^^L^^^^^I",
        d10 = d.d10, d3 = d.d3));
    add(&d.d1, "OMD", "123456789012345", "01", "OMD^O03^OMD_O03", format!(
        "{PIDSEG}\rPV1|0001|I|3E^301^^^^N\rORC|NW|123456789012345|||||||{d1}0900\rTQ1|1||TID&１日３回&HL70335||||{d1}07||R^ルーチン^HL70485\rODS|D||001^^99XY3|塩分控えめ",
        d1 = d.d1));
    add(&d.d3, "OMP-01", "000000011000185", "01", "RDE^O11^RDE_O11", format!(
        "{PIDSEG}\rPV1|0001|O|01^^^^^C\rORC|NW|000000011000185||1|||||{d3}103045|058^入力者^花子^^^^^^^L^^^^^I||110^医師^一郎^^^^^^^L^^^^^I|10^^^^^C||||01^内科^99XY1\rRXE||108665201^サンプル錠５mg^HOT9|1||TAB^錠^MR9P|||||15|TAB^錠^MR9P|||||||||3^TAB&錠&MR9P||OHP^外来処方^MR9P\rTQ1|1||1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01|||5^d|{d3}|{d0}\rRXR|PO^口^HL70162\rORC|NW|000000011000185||1|||||{d3}103045\rRXE||110626901^サンプルＴ錠１００mg^HOT9|2||TAB^錠^MR9P|||||30|TAB^錠^MR9P\rTQ1|1||1013044400000000&内服・経口・１日３回朝昼夕食後&JAMISDP01|||5^d|{d3}\rRXR|PO^口^HL70162\rORC|NW|000000011000185||2|||||{d3}103045\rRXE||620000001^サンプル散10%^YJ|50||MG^ミリグラム^MR9P|PWD^散剤^MR9P||||1400|MG^ミリグラム^MR9P\rTQ1|1||2000000000000000&頓用・疼痛時&JAMISDP01|||14^d||||PRN^頓用^HL70485\rRXR|PO^口^HL70162",
        d3 = d.d3, d0 = d.d0));
    add(&d.d1, "OMP-02", "123456789012345", "01", "RDE^O11^RDE_O11", format!(
        "{PIDSEG}\rPV1|0001|I|3E^301^^^^N\rORC|NW|123456789012345||123456789012345_01_001|||||{d1}012410\rRXE||00^一般^99I02|510||ML^ミリリットル^MR9P|INJ^注射剤^MR9P|^５時間一定速度で^99IC6||||||||||||||IHP^入院処方^MR9P|H1|102|ml/hr^ミリリッター／時間^ISO+\rTQ1|1||||||{d1}0800|{d1}1300\rRXR|IV^静脈内^HL70162||IVP^点滴ポンプ^HL70164\rRXC|B|620007329^サンプル輸液５００ｍＬ^HOT9|1|HON^本^MR9P\rRXC|A|620002559^サンプル注５０mg^HOT9|1|AMP^アンプル^MR9P",
        d1 = d.d1));
    add(&d.d1, "OMP-11", "000000011000185", "01", "RAS^O17^RAS_O17", format!(
        "{PIDSEG}\rPV1|0001|I|3E^301^^^^N\rORC|NW|000000011000185||1|||||{d1}141500\rRXA|0|1|{d1}0830|{d1}0830|108665201^サンプル錠５mg^HOT9|1|TAB^錠^MR9P|||200^看護^花子^^^^^^^L^^^^^I|3E^301^1^^^N|||||||||CP||{d1}100613\rRXA|0|1|{d1}0830|{d1}0830|110626901^サンプルＴ錠１００mg^HOT9|2|TAB^錠^MR9P|||200^看護^花子^^^^^^^L^^^^^I|3E^301^1^^^N|||||||||NA||{d1}100613\rRXR|PO^口^HL70162",
        d1 = d.d1));
    add(&d.d1, "OMP-12", "123456789012345", "01", "RAS^O17^RAS_O17", format!(
        "{PIDSEG}\rPV1|0001|I|3E^301^^^^N\rORC|NW|123456789012345||123456789012345_01_001|||||{d1}113613\rRXA|0|1|{d1}080521|{d1}130543|620007329^サンプル輸液５００ｍＬ^HOT9|1|HON^本^MR9P||^左手に実施^99IC2|200^看護^花子^^^^^^^L^^^^^I|3E^301^1^^^N|102ml/hr||||||||CP||{d1}130613\rRXR|IV^静脈内^HL70162||IVP^点滴ポンプ^HL70164",
        d1 = d.d1));
    add(&d.d3, "OML-01", "000000011000354", "15", "OML^O33^OML_O33", format!(
        "{PIDSEG}\rPV1|0001|I|3E^301^^^^N\rSPM|1|||023^血清^JC10^01^血清^99Z01|||||||||||||{d3}1500\rORC|NW|000000011000354|||||||{d3}183301\rOBR|1|000000011000354||E002^生化学的検査^99O03\rOBX|1||3A010000002327101^総蛋白^JC10^10222^ＴＰ^99X03||||||||O",
        d3 = d.d3));
    add(&d.d3, "OML-11", "000000011000354", "01", "OUL^R22^OUL_R22", format!(
        "{PIDSEG}\rPV1|0001|O|01^^^^^C\rSPM|1|000000001219001||023^血清^JC10|||||||||||||{d3}1500\rOBR|1|000000011000354|000000001219001|E001^血液学的検査^99O03|||{d3}|{d3}|||||||607^医師^一郎^^^^^^^L^^^^^I\rORC|SC|000000011000354|000000001219001||CM||||{d3}103059\rOBX|1|NM|3A016000002327102^A/G比^JC10||1.7||1.2-2.0||||F|||{d3}1500\rOBX|2|NM|3A010000002327101^総蛋白^JC10||7.20|g/dl^g/dl^99XYZ|6.70～8.30|H|||F|||{d3}1500\rOBX|3|SN|5C070000002329201^CRP^JC10||<^0.02|mg/dL^mg/dL^99XYZ|<0.14||||F|||{d3}1500\rOBX|4|ST|1A020000000190111^尿蛋白^JC10||(2+)||(-)|A|||F|||{d3}1500\rOBX|5|NM|3H015000002327101^カリウム^JC10||<0.02|mmol/L^mmol/L^99XYZ|3.6-4.8|L|||F|||{d3}1500",
        d3 = d.d3));
    for (dtype, mtype, body) in [
        ("OMG-01", "OMG^O19^OMG_O19", "ORC|NW|000201101200100|||||||{D}100059\rTQ1|1||||||||R^^HL70485\rOBR||000201101200100||1000000000000000^Ｘ線単純撮影^JJ1017"),
        ("OMG-02", "OMG^O19^OMG_O19", "ORC|NW|000201101200100|||||||{D}125210\rTQ1|1||||||||R^^HL70485\rOBR||000201101200100||11000000000^検査.上部^LENDO\rOBX|1|TX|MS3-34^臨床病名^JSHR||胃潰瘍の疑い||||||F"),
        ("OMG-03", "OMG^O19^OMG_O19", "ORC|NW|000201101200100|||||||{D}100059\rTQ1|1||||||||R^^HL70485\rOBR||000201101200100||9A110^標準１２誘導心電図^JC10"),
        ("OMG-11", "OMI^Z23^OMI_Z23", "ORC|NW|000201101200100|||||||{D}113540\rTQ1|1||||||||R^^HL70485\rOBR||000201101200100||99A000000000000^経皮的超音波検査^JJ1017|||{D}\rIPC|A201112200030001|P1234|1.2.392.1114.20045.43233.5.300001||US^^DCM"),
        ("OMG-12", "OMI^Z23^OMI_Z23", "ORC|NW|000201101200100|||||||{D}113540\rTQ1|1||||||||R^^HL70485\rOBR||000201101200100||10000000000^内視鏡^LENDO|||{D}\rIPC|A201112200030002|P1235|1.2.392.1114.20045.43233.5.300002||ES^^DCM"),
        ("OMG-13", "ORU^R01^ORU_R01", "OBR|1|000201101200100||9A110^標準１２誘導心電図^JC10|||{D}|||||||||D01234^医師^太郎^^^^^^^^L^^^^^I||||||{D}152000|||F\rOBX|1|TX|9A100&IMP^心電図所見^JC10|1|洞調律||||||F\rOBX|2|NM|32769^心拍数^99MFR|2|67|bpm|||||F"),
    ] {
        add(&d.d3, dtype, "000201101200100", "01", mtype, format!("{PIDSEG}\rPV1|0001|O|01^^^^^C\r{}", body.replace("{D}", &d.d3)));
    }
    add(&d.d10, "ADT-22", nd, "01", "ADT^A01^ADT_A01", format!(
        "EVN||{d10}1600\r{PIDSEG}\rPV1|0001|I|3E^302^1^^^N||||220^医師^一郎^^^^^^^L^^^^^I|||01|||||||220^医師^一郎^^^^^^^L^^^^^I|||||||||||||||||||||||||||{d10}1600",
        d10 = d.d10));
    add(&d.d3, "ADT-42", nd, "10", "ADT^A02^ADT_A02", format!(
        "EVN||{d3}2100||||{d3}2000\r{PIDSEG}\rPV1|0001|I|3E^305^2^^^N|||3E^302^1^^^N|220^医師^一郎^^^^^^^L^^^^^I|||10",
        d3 = d.d3));
    add(&d.d1, "ADT-52", nd, "08", "ADT^A03^ADT_A03", format!(
        "EVN||{d1}2100||||{d1}1200\r{PIDSEG}\rPV1|0001|I|3E^305^2^^^N||||607^医師^一郎^^^^^^^L^^^^^I|||08|||||||607^医師^一郎^^^^^^^L^^^^^I|||||||||||||||||||01|||||||||{d1}1200",
        d1 = d.d1));
    v
}

/// The ORU^R30 vital signs of the extended storage's sample layout.
fn vitals_fixture(d: &Dates) -> String {
    let t1 = format!("{}0800", d.d1);
    let t2 = format!("{}1500", d.d1);
    format!(
        "{}\r{PIDSEG}\rPV1|0001|I|3E^305^2^^^N\rORC|SC|0000{d1}15|223344556677889||CM||||{d1}0800\rOBR|1|0000{d1}15|223344556677889|01^バイタル^99ABC|||{d1}1500|{d1}1500\rOBX|1|NM|9A761000000000001^拡張期血圧（1回目）^JC10||58|mm(hg)^mmHg^ISO+|<85||||F|||{t1}\rOBX|2|NM|9A751000000000001^収縮期血圧（1回目）^JC10||92|mm(hg)^mmHg^ ISO+|<130||||F|||{t1}\rOBX|3|NM|9P300000000000001^脈拍（測定部位記載なし、または不明）^JC10||98|(hb)^回／１分^ISO+|50-90|H|||F|||{t1}\rOBX|4|NM|9P200000000000001^呼吸数（観察または聴診）^JC10||14|/min^回／１分^ISO+|12-16||||F|||{t1}\rOBX|5|NM|9P10000000000001^体温（体温計による腋窩（記載なしを含む））^JC10||35.8|cel^℃^ISO+|35.5-37.5||||F|||{t1}\rOBX|6|NM|9A761000000000001^拡張期血圧（1回目）^JC10||60|mm(hg)^mmHg^ISO+|<85||||F|||{t2}\rOBX|7|NM|9A751000000000001^収縮期血圧（1回目）^JC10||100|mm(hg)^mmHg^ISO+|<130||||F|||{t2}",
        MSH.replace("{TYPE}", "ORU^R30^ORU_R30").replace("{T}", &format!("{}000100", d.d0)),
        d1 = d.d1
    )
}

fn encode(text: &str) -> Vec<u8> {
    encoding_rs::ISO_2022_JP.encode(text).0.into_owned()
}

fn stamp(date: &str, n: usize) -> String {
    let day = if date == "-" {
        "20240101".to_string()
    } else {
        date.to_string()
    };
    format!("{day}{:06}000", 90000 + n)
}

/// Write the fixtures into a storage tree; returns (standard root, extended root).
fn write_tree(dir: &Path, d: &Dates) -> (std::path::PathBuf, std::path::PathBuf) {
    let std_root = dir.join("standard");
    let ext_root = dir.join("extended");
    for (n, (date, dtype, order, dept, mtype, body)) in fixtures(d).into_iter().enumerate() {
        let st = stamp(&date, n);
        let text = format!(
            "{}\r{body}\r",
            MSH.replace("{TYPE}", mtype).replace("{T}", &st[..14])
        );
        let name = format!("{PID}_{date}_{dtype}_{order}_{st}_{dept}_1");
        let folder = std_root
            .join(layout::patient_folder(PID))
            .join(&date)
            .join(dtype);
        std::fs::create_dir_all(&folder).unwrap();
        // CR per the standard; a few files from systems that end segments with LF / CRLF.
        let text = match n % 5 {
            3 => text.replace('\r', "\n"),
            4 => text.replace('\r', "\r\n"),
            _ => text,
        };
        std::fs::write(folder.join(name), encode(&text)).unwrap();
    }
    let content = format!(
        "{PID}_{}_{}_0000{}15_{}1500000_1",
        d.d1,
        layout::VITALS_TYPE,
        d.d1,
        d.d1
    );
    let folder = ext_root
        .join(layout::patient_folder(PID))
        .join(&d.d1)
        .join(layout::VITALS_TYPE)
        .join(content);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join(layout::MAIN_DOCUMENT),
        encode(&vitals_fixture(d)),
    )
    .unwrap();
    (std_root, ext_root)
}

fn engine(dir: &Path, settings: Settings) -> (Engine, SnapshotReader) {
    let store = Store::open(&dir.join("s.redb"), StoreOptions::default()).unwrap();
    let config = Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    (
        Engine::new(store, Arc::new(Ssmix2Source::new(settings)), config)
            .with_reader(reader.clone()),
        reader,
    )
}

#[test]
fn every_data_type_of_the_spec_samples_parses_and_maps() {
    let d = dates();
    // Each fixture alone: parsed, checked and converted (kept types give resources).
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, (date, dtype, order, dept, mtype, body)) in fixtures(&d).into_iter().enumerate() {
        let st = stamp(&date, n);
        let text = format!(
            "{}\r{body}\r",
            MSH.replace("{TYPE}", mtype).replace("{T}", &st[..14])
        );
        let name = FileName::parse(
            &format!("{PID}_{date}_{dtype}_{order}_{st}_{dept}_1"),
            false,
        )
        .unwrap();
        let mut notes = Vec::new();
        let (outs, stay) = convert_file(&encode(&text), &name, "1318814790", &mut notes)
            .unwrap_or_else(|e| panic!("{dtype}: {e}"));
        assert!(notes.is_empty(), "{dtype}: {notes:?}");
        for o in &outs {
            if let Out::Upsert { json, .. } = o {
                let v: serde_json::Value = serde_json::from_slice(json).unwrap();
                assert!(
                    v["meta"]["profile"][0]
                        .as_str()
                        .unwrap()
                        .contains("jpfhir.jp"),
                    "{dtype}"
                );
            }
        }
        let kept = layout::kind_of(dtype, false) != Some(layout::Kind::NotKept);
        assert_eq!(kept, !outs.is_empty() || stay.is_some(), "{dtype}");
        by_type.insert(dtype, outs.len() + usize::from(stay.is_some()));
    }
    let covered: Vec<&str> = by_type.keys().copied().collect();
    assert_eq!(
        covered,
        [
            "ADT-00", "ADT-22", "ADT-42", "ADT-52", "ADT-61", "OMD", "OMG-01", "OMG-02", "OMG-03",
            "OMG-11", "OMG-12", "OMG-13", "OML-01", "OML-11", "OMP-01", "OMP-02", "OMP-11",
            "OMP-12", "PPR-01"
        ]
    );

    // All of them as a storage tree, through the engine.
    let dir = tempfile::tempdir().unwrap();
    let (std_root, ext_root) = write_tree(dir.path(), &d);
    let (engine, reader) = engine(
        dir.path(),
        Settings {
            extended_root: Some(ext_root),
            ..Settings::new(&std_root)
        },
    );
    let rep = engine.sync_now(true, &CancellationToken::new()).unwrap();
    assert!(rep.rejects.is_empty(), "{:?}", rep.rejects);
    assert_eq!(rep.skipped, 0, "{:?}", rep.source_problems);
    assert!(rep.source_problems.is_empty(), "{:?}", rep.source_problems);
    for t in ["OMD", "OML-01", "OMG-01", "OMG-13"] {
        assert_eq!(
            rep.ignored.get(&format!("ss-mix2 {t}")),
            Some(&1),
            "{:?}",
            rep.ignored
        );
    }
    let r = reader
        .patient_by_hospital_id(PID)
        .unwrap()
        .expect("patient");
    // ADT-00
    assert_eq!(r.patient.name_kanji.as_deref(), Some("試験 花子"));
    assert_eq!(r.patient.name_kana.as_deref(), Some("シケン ハナコ"));
    assert_eq!(r.patient.sex, Sex::Female);
    assert_eq!(r.patient.birth_date.unwrap().to_string(), "1950-02-14");
    // ADT-61 (IAM; the deleted one gone) and ADT-00 AL1 (repeated once).
    let mut subst: Vec<&str> = r.allergies.iter().map(|a| a.substance.as_str()).collect();
    subst.sort();
    assert_eq!(subst, ["スギ", "ソバ", "ハウスダスト", "ペニシリン系"]);
    let soba = r.allergies.iter().find(|a| a.substance == "ソバ").unwrap();
    assert_eq!(soba.reactions, ["呼吸困難", "蕁麻疹"]);
    assert_eq!(soba.categories, ["food"]);
    assert_eq!(soba.criticality, Some(akari_sync::model::Criticality::High));
    // PPR-01: ICD-10 code, resolved and suspected, the entry in error gone.
    let mut cond: Vec<(String, Option<String>, Option<String>)> = r
        .conditions
        .iter()
        .map(|c| (c.text.clone(), c.code.clone(), c.clinical_status.clone()))
        .collect();
    cond.sort();
    assert_eq!(
        cond,
        [
            (
                "肺炎の疑い".into(),
                Some("J189".into()),
                Some("resolved".into())
            ),
            ("胃炎".into(), Some("K297".into()), Some("active".into())),
        ]
    );
    // OMP-01: three drugs of two Rps, dose, usage text, days, prescriber, route, as-needed.
    let rx = |name: &str| {
        r.prescriptions
            .iter()
            .find(|p| p.medication == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", r.prescriptions))
    };
    let a = rx("サンプル錠５mg");
    assert_eq!(a.dose.as_deref(), Some("1回 1錠"));
    assert_eq!(a.timing.as_deref(), Some("内服・経口・１日３回朝昼夕食後"));
    assert_eq!(a.days, Some(5), "TQ1-6 5^d");
    assert_eq!(
        a.prescriber.as_ref().and_then(|p| p.name.as_deref()),
        Some("医師 一郎"),
        "ORC-12 ordering provider"
    );
    assert_eq!(a.route.as_deref(), Some("口"));
    assert_eq!(a.status, "active");
    assert!(a.period_end.is_some());
    assert!(rx("サンプル散10%").as_needed);
    assert_eq!(
        rx("サンプル散10%").dose.as_deref(),
        Some("1回 50ミリグラム")
    );
    // OMP-02: base + additive, amount, rate.
    let inj = rx("サンプル輸液５００ｍＬ 1本 + サンプル注５０mg 1アンプル");
    assert_eq!(inj.route.as_deref(), Some("静脈内"));
    assert_eq!(
        inj.timing.as_deref(),
        Some("102ミリリッター／時間 ５時間一定速度で")
    );
    assert_eq!(inj.dose.as_deref(), Some("1回 510ミリリットル"));
    // OMP-11 / OMP-12: the MAR, linked to the orders.
    assert_eq!(r.administrations.len(), 3, "{:?}", r.administrations);
    let given = r
        .administrations
        .iter()
        .find(|m| m.medication == "サンプル錠５mg")
        .unwrap();
    assert_eq!(given.status, "completed");
    assert_eq!(given.dose.as_deref(), Some("1錠"));
    assert_eq!(given.prescription_id.as_deref(), Some(a.id.as_str()));
    let not_given = r
        .administrations
        .iter()
        .find(|m| m.medication == "サンプルＴ錠１００mg")
        .unwrap();
    assert_eq!(not_given.status, "not-done");
    let drip = r
        .administrations
        .iter()
        .find(|m| m.medication.starts_with("サンプル輸液"))
        .unwrap();
    assert_eq!(drip.prescription_id.as_deref(), Some(inj.id.as_str()));
    // OML-11: values as the laboratory wrote them.
    let lab = |code: &str| {
        r.labs
            .iter()
            .chain(std::iter::empty())
            .find(|l| l.code.as_deref() == Some(code))
            .unwrap_or_else(|| panic!("{code}: {:?}", r.labs))
    };
    assert_eq!(lab("3A010000002327101").value, "7.20");
    assert_eq!(lab("3A010000002327101").unit.as_deref(), Some("g/dl"));
    assert_eq!(
        lab("3A010000002327101")
            .reference_range
            .as_ref()
            .and_then(|r| r.numbers())
            .as_deref(),
        Some("6.70–8.30 g/dl")
    );
    assert_eq!(
        lab("3A010000002327101").interpretation.as_deref(),
        Some("H")
    );
    assert_eq!(lab("5C070000002329201").value, "<0.02");
    assert_eq!(lab("3H015000002327101").value, "<0.02");
    assert_eq!(lab("1A020000000190111").value, "(2+)");
    assert_eq!(lab("3A016000002327102").value, "1.7");
    // Extended storage vitals: a blood pressure pair, pulse, respiration, temperature, and
    // an ADT-00 height and weight.
    let v = |k: VitalKind| {
        r.vitals
            .iter()
            .filter(|x| x.kind == k)
            .map(|x| x.value.clone())
            .collect::<Vec<_>>()
    };
    let mut bp = v(VitalKind::BloodPressure);
    bp.sort();
    assert_eq!(bp, ["100/60", "92/58"]);
    assert_eq!(v(VitalKind::HeartRate), ["98"]);
    assert_eq!(v(VitalKind::RespiratoryRate), ["14"]);
    assert_eq!(v(VitalKind::BodyTemperature), ["35.8"]);
    assert_eq!(v(VitalKind::BodyWeight), ["48.5"]);
    assert_eq!(v(VitalKind::BodyHeight), ["152.4"]);
    // ADT-22 → ADT-42 → ADT-52: one stay, moved to bed 2, discharged.
    assert_eq!(r.encounters.len(), 1, "{:?}", r.encounters);
    let e = &r.encounters[0];
    assert_eq!(e.status, "finished");
    assert_eq!(e.class.as_deref(), Some("IMP"));
    assert_eq!(
        (e.ward.as_deref(), e.room.as_deref(), e.bed.as_deref()),
        (Some("3E"), Some("305"), Some("2"))
    );
    assert!(e.start.is_some() && e.end.is_some());
    assert!(
        reader.census().unwrap().is_empty(),
        "discharged: not in the census"
    );
}

/// Problems of a report, by file name.
fn problems(rep: &akari_sync::SyncReport) -> Vec<String> {
    rep.source_problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn broken_files_are_reported_per_file_and_the_rest_of_the_pull_succeeds() {
    let d = dates();
    let dir = tempfile::tempdir().unwrap();
    let (std_root, ext_root) = write_tree(dir.path(), &d);
    let other = "0000765432";
    let folder = |date: &str, dtype: &str| {
        let f = std_root
            .join(layout::patient_folder(other))
            .join(date)
            .join(dtype);
        std::fs::create_dir_all(&f).unwrap();
        f
    };
    let msg = |mtype: &str, body: &str| {
        format!(
            "{}\r{}\r{body}\r",
            MSH.replace("{TYPE}", mtype)
                .replace("{T}", "20240101090000"),
            PIDSEG.replace(PID, other)
        )
    };
    let name = |date: &str, dtype: &str, n: u32| {
        format!(
            "{other}_{date}_{dtype}_{}_2024010109000{n}000_-_1",
            layout::NO_ORDER
        )
    };
    // A good patient record, so the patient exists.
    std::fs::write(
        folder("-", "ADT-00").join(name("-", "ADT-00", 0)),
        encode(&msg("ADT^A08^ADT_A01", "EVN||20240101\rPV1|0001|O")),
    )
    .unwrap();
    // 1. A kanji run whose escape sequence is broken: used, with a warning.
    let mut bad_escape = encode(&msg(
        "ADT^A60^ADT_A60",
        "IAM|1|FA^食物アレルギー^HL70127|^ソバ^99XYZ|SV^重度^HL70128|蕁麻疹|A^追加^HL70323|X-1",
    ));
    let at = bad_escape.windows(3).position(|w| w == b"\x1b$B").unwrap();
    bad_escape[at + 2] = b'Z';
    std::fs::write(
        folder("-", "ADT-61").join(name("-", "ADT-61", 1)),
        bad_escape,
    )
    .unwrap();
    // 2. A segment cut off: the PID ends before the patient ID.
    let truncated = format!(
        "{}\rPID|0001||",
        MSH.replace("{TYPE}", "PPR^ZD1^PPR_ZD1")
            .replace("{T}", "20240101090000")
    );
    std::fs::write(
        folder("-", "PPR-01").join(name("-", "PPR-01", 2)),
        encode(&truncated),
    )
    .unwrap();
    // 3. An unknown data type folder.
    std::fs::write(
        folder("20240101", "XYZ-99").join(name("20240101", "XYZ-99", 3)),
        encode(&msg("ADT^A08^ADT_A01", "")),
    )
    .unwrap();
    // 4. Wrong encoding declared: UTF-8 and Shift_JIS text in files that say ISO-2022-JP.
    let utf8 = msg("OUL^R22^OUL_R22", &format!("SPM|1|||||||||||||||||{}1500\rOBR|1|1||E001^検査^99O03\rOBX|1|NM|3H015000002327101^カリウム^JC10||4.1|mmol/L^mmol/L^99XYZ|3.6-4.8||||F", d.d3));
    let oml = folder(&d.d3, "OML-11");
    std::fs::write(
        oml.join(format!(
            "{other}_{}_OML-11_000000000000001_{}090000000_01_1",
            d.d3, d.d3
        )),
        utf8.as_bytes(),
    )
    .unwrap();
    let sjis = encoding_rs::SHIFT_JIS
        .encode(
            &utf8
                .replace("カリウム", "ナトリウム")
                .replace("3H015", "3H010"),
        )
        .0
        .into_owned();
    std::fs::write(
        oml.join(format!(
            "{other}_{}_OML-11_000000000000002_{}090000000_01_1",
            d.d3, d.d3
        )),
        sjis,
    )
    .unwrap();
    // 5. An empty file.
    std::fs::write(
        folder(&d.d3, "OMP-01").join(format!(
            "{other}_{}_OMP-01_000000000000003_{}090000000_01_1",
            d.d3, d.d3
        )),
        b"",
    )
    .unwrap();
    // 6. A file name that does not parse.
    std::fs::write(
        folder(&d.d3, "OMP-01").join("copy of order.txt"),
        encode(&msg("RDE^O11^RDE_O11", "")),
    )
    .unwrap();
    // 7. Filed under the wrong patient: never shown for this one.
    std::fs::write(
        folder(&d.d3, "OMP-11").join(format!(
            "{other}_{}_OMP-11_000000000000004_{}090000000_01_1",
            d.d3, d.d3
        )),
        encode(&format!(
            "{}\r{PIDSEG}\rORC|NW|1\rRXA|0|1|{}0800|{}0800|1^薬^HOT9|1|TAB^錠^MR9P",
            MSH.replace("{TYPE}", "RAS^O17^RAS_O17")
                .replace("{T}", "20240101090000"),
            d.d3,
            d.d3
        )),
    )
    .unwrap();

    let (engine, reader) = engine(
        dir.path(),
        Settings {
            extended_root: Some(ext_root),
            ..Settings::new(&std_root)
        },
    );
    let rep = engine
        .sync_now(true, &CancellationToken::new())
        .expect("the pull succeeds");
    let p = problems(&rep);
    let find = |words: &[&str]| {
        p.iter()
            .find(|l| words.iter().all(|w| l.contains(w)))
            .unwrap_or_else(|| panic!("no problem with {words:?} in {p:#?}"))
    };
    assert!(find(&["ADT-61", "broken ISO-2022-JP"]).contains("(warning)"));
    assert!(find(&["PPR-01", "PID[1] PID-3", "truncated"]).contains("(skipped)"));
    assert!(find(&["XYZ-99", "unknown data type"]).contains("(skipped)"));
    assert!(find(&["OML-11_000000000000001", "MSH-18", "UTF-8"]).contains("(warning)"));
    assert!(find(&["OML-11_000000000000002", "MSH-18", "Shift_JIS"]).contains("(warning)"));
    assert!(find(&["OMP-01_000000000000003", "empty"]).contains("(skipped)"));
    assert!(find(&["copy of order.txt", "file name does not parse"]).contains("(skipped)"));
    assert!(find(&["OMP-11_000000000000004", "different patient"]).contains("(skipped)"));
    assert_eq!(rep.skipped, 5, "{p:#?}");
    // Problems name files and fields, never what the files say.
    for line in &p {
        for secret in ["試験", "花子", "ソバ", "カリウム", "19500214"] {
            assert!(!line.contains(secret), "{line}");
        }
    }
    // The rest of the pull: the fixture patient is complete, the other patient has what
    // could be read.
    let r = reader.patient_by_hospital_id(PID).unwrap().unwrap();
    assert_eq!(r.allergies.len(), 4);
    assert_eq!(r.labs.len(), 5);
    let o = reader.patient_by_hospital_id(other).unwrap().unwrap();
    assert!(
        o.allergies.iter().any(|a| a.reactions == ["蕁麻疹"]),
        "{:?}",
        o.allergies
    );
    let mut labs: Vec<&str> = o.labs.iter().map(|l| l.test.as_str()).collect();
    labs.sort();
    assert_eq!(labs, ["カリウム", "ナトリウム"]);
    assert!(o.administrations.is_empty());
}

/// A small deterministic generator for the mutation test.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_sample_files_never_panic_and_notes_carry_no_content() {
    let d = dates();
    let samples: Vec<(FileName, Vec<u8>)> = fixtures(&d)
        .into_iter()
        .enumerate()
        .map(|(n, (date, dtype, order, dept, mtype, body))| {
            let st = stamp(&date, n);
            let text = format!(
                "{}\r{body}\r",
                MSH.replace("{TYPE}", mtype).replace("{T}", &st[..14])
            );
            let name = FileName::parse(
                &format!("{PID}_{date}_{dtype}_{order}_{st}_{dept}_1"),
                false,
            )
            .unwrap();
            (name, encode(&text))
        })
        .collect();
    let tokens: [&[u8]; 10] = [
        b"|", b"^", b"~", b"\\", b"&", b"\r", b"\x1b$B", b"\x1b(B", b"\"\"", b"\\X41\\",
    ];
    let mut rng = Lcg(0x5eed);
    let started = std::time::Instant::now();
    let mut runs = 0u64;
    while runs < 20_000 && started.elapsed() < std::time::Duration::from_secs(4) {
        let (name, base) = &samples[rng.below(samples.len())];
        let mut b = base.clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(6) {
                0 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
                1 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b.truncate(i);
                }
                2 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    let j = (i + rng.below(40)).min(b.len());
                    b.drain(i..j);
                }
                3 => {
                    let i = rng.below(b.len() + 1);
                    let t = tokens[rng.below(tokens.len())];
                    b.splice(i..i, t.iter().copied());
                }
                4 => {
                    // Duplicate a segment.
                    let i = rng.below(b.len() + 1);
                    let seg: Vec<u8> = b[i..].split(|c| *c == b'\r').next().unwrap_or(&[]).to_vec();
                    b.extend_from_slice(&seg);
                }
                _ => b.reverse(),
            }
        }
        let mut notes: Vec<Note> = Vec::new();
        let result = convert_file(&b, name, "", &mut notes);
        for n in notes.iter().chain(result.as_ref().err()) {
            let s = n.to_string();
            for secret in [
                "試験",
                "花子",
                "シケン",
                "サンプル",
                "ペニシリン",
                "0000123456",
            ] {
                assert!(!s.contains(secret), "a note carries file content: {s}");
            }
        }
        runs += 1;
    }
    assert!(runs > 500, "only {runs} mutations in the time bound");
}
