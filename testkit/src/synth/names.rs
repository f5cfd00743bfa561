//! Name tables for the synthetic hospital: common Japanese family and given names with
//! their katakana reading, including the variant kanji staff struggle to type
//! (髙, 﨑, 邊/邉, 齋/齊, 澤, 濱). All combinations are synthetic.

/// (kanji, katakana) family names. Variants sit next to their common form.
pub const FAMILY: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("髙橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("渡邊", "ワタナベ"),
    ("渡邉", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("齋藤", "サイトウ"),
    ("齊藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("山﨑", "ヤマザキ"),
    ("宮崎", "ミヤザキ"),
    ("宮﨑", "ミヤザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("前田", "マエダ"),
    ("藤田", "フジタ"),
    ("小川", "オガワ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("村上", "ムラカミ"),
    ("近藤", "コンドウ"),
    ("坂本", "サカモト"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("西村", "ニシムラ"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
    ("三浦", "ミウラ"),
    ("藤井", "フジイ"),
    ("岡本", "オカモト"),
    ("中野", "ナカノ"),
    ("原田", "ハラダ"),
    ("小野", "オノ"),
    ("竹内", "タケウチ"),
    ("金子", "カネコ"),
    ("和田", "ワダ"),
    ("石田", "イシダ"),
    ("上田", "ウエダ"),
    ("柴田", "シバタ"),
    ("工藤", "クドウ"),
    ("宮本", "ミヤモト"),
    ("高木", "タカギ"),
    ("髙木", "タカギ"),
    ("安藤", "アンドウ"),
    ("谷口", "タニグチ"),
    ("大野", "オオノ"),
    ("河野", "コウノ"),
    ("藤原", "フジワラ"),
    ("岩崎", "イワサキ"),
    ("岩﨑", "イワサキ"),
    ("沢田", "サワダ"),
    ("澤田", "サワダ"),
    ("黒沢", "クロサワ"),
    ("黒澤", "クロサワ"),
    ("浜田", "ハマダ"),
    ("濱田", "ハマダ"),
    ("長浜", "ナガハマ"),
    ("長濱", "ナガハマ"),
    ("牧野", "マキノ"),
    ("千葉", "チバ"),
    ("久保", "クボ"),
    ("野口", "ノグチ"),
];

/// (kanji, katakana) given names, male.
pub const GIVEN_MALE: &[(&str, &str)] = &[
    ("太郎", "タロウ"),
    ("健一", "ケンイチ"),
    ("誠", "マコト"),
    ("浩", "ヒロシ"),
    ("翔太", "ショウタ"),
    ("大輔", "ダイスケ"),
    ("拓也", "タクヤ"),
    ("直樹", "ナオキ"),
    ("和夫", "カズオ"),
    ("茂", "シゲル"),
    ("清", "キヨシ"),
    ("隆", "タカシ"),
    ("勇", "イサム"),
    ("修", "オサム"),
    ("蓮", "レン"),
    ("悠真", "ユウマ"),
    ("湊", "ミナト"),
    ("陽翔", "ハルト"),
    ("一郎", "イチロウ"),
    ("正雄", "マサオ"),
    ("進", "ススム"),
    ("昭二", "ショウジ"),
];

/// (kanji, katakana) given names, female.
pub const GIVEN_FEMALE: &[(&str, &str)] = &[
    ("花子", "ハナコ"),
    ("恵子", "ケイコ"),
    ("幸子", "サチコ"),
    ("洋子", "ヨウコ"),
    ("美智子", "ミチコ"),
    ("和子", "カズコ"),
    ("節子", "セツコ"),
    ("裕子", "ユウコ"),
    ("由美", "ユミ"),
    ("真由美", "マユミ"),
    ("愛", "アイ"),
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("さくら", "サクラ"),
    ("美咲", "ミサキ"),
    ("葵", "アオイ"),
    ("千代", "チヨ"),
    ("久美子", "クミコ"),
    ("爛漫", "ランマン"),
    ("静香", "シズカ"),
];

const FULL_BASE: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォャュョッー";
const HALF_BASE: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｬｭｮｯｰ";

fn half_of_base(c: char) -> Option<char> {
    FULL_BASE
        .chars()
        .zip(HALF_BASE.chars())
        .find(|(f, _)| *f == c)
        .map(|(_, h)| h)
}

/// Full-width katakana → half-width katakana (ｶﾀｶﾅ), the way some legacy systems store
/// readings: voiced kana become base + ﾞ, semi-voiced base + ﾟ, the space becomes ASCII.
pub fn to_halfwidth_katakana(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if let Some(h) = half_of_base(c) {
            out.push(h);
            continue;
        }
        let cp = c as u32;
        // ガ..ド (voiced = base + 1 in the code chart), バ..ボ (+1), パ..ポ (+2).
        let voiced = |base: u32| char::from_u32(base).and_then(half_of_base);
        match c {
            'ガ' | 'ギ' | 'グ' | 'ゲ' | 'ゴ' | 'ザ' | 'ジ' | 'ズ' | 'ゼ' | 'ゾ' | 'ダ' | 'ヂ'
            | 'ヅ' | 'デ' | 'ド' | 'バ' | 'ビ' | 'ブ' | 'ベ' | 'ボ' => {
                if let Some(h) = voiced(cp - 1) {
                    out.push(h);
                    out.push('ﾞ');
                } else {
                    out.push(c);
                }
            }
            'パ' | 'ピ' | 'プ' | 'ペ' | 'ポ' => {
                if let Some(h) = voiced(cp - 2) {
                    out.push(h);
                    out.push('ﾟ');
                } else {
                    out.push(c);
                }
            }
            'ヴ' => out.push_str("ｳﾞ"),
            '\u{3000}' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfwidth_conversion_handles_voiced_and_semivoiced_kana() {
        assert_eq!(to_halfwidth_katakana("タカハシ タロウ"), "ﾀｶﾊｼ ﾀﾛｳ");
        assert_eq!(to_halfwidth_katakana("ワタナベ ダイスケ"), "ﾜﾀﾅﾍﾞ ﾀﾞｲｽｹ");
        assert_eq!(to_halfwidth_katakana("ポ"), "ﾎﾟ");
        assert_eq!(to_halfwidth_katakana("ショウジ"), "ｼｮｳｼﾞ");
    }

    #[test]
    fn tables_contain_the_variant_kanji() {
        let all: String = FAMILY.iter().map(|(k, _)| *k).collect();
        for v in ["髙", "﨑", "邊", "邉", "齋", "齊", "澤", "濱"] {
            assert!(all.contains(v), "missing variant {v}");
        }
    }
}
