//! The plain alternative: the same Patient resources in PostgreSQL as JSONB, searched
//! through a GIN jsonb_path_ops index (hospital ID, birth date: containment) and a GIN
//! pg_trgm index (names). The application gives PostgreSQL the same normalisation Akari
//! uses (NFKC, hiragana→katakana, variant kanji, no spaces), computed at load into a
//! `_search` field of each document and applied to each query, so both return the same
//! patients and the comparison is of the search engines, not of the folding rules.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use akari_sync::text::{normalize_name, parse_birth_date_query};
use postgres::{Client, NoTls, Statement};
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::BenchError;

pub struct LoadStats {
    pub copy_s: f64,
    pub index_s: f64,
    pub bytes: u64,
}

pub struct Pg {
    client: Client,
    by_id: Statement,
    by_birth: Statement,
    by_name: Statement,
}

/// The same search keys Akari's index holds for one name: the whole name and the given
/// name alone, normalised.
fn name_keys(text: &str) -> Vec<String> {
    let mut keys = vec![normalize_name(text)];
    let spaced: String = text.nfkc().collect();
    if let Some((_, given)) = spaced.split_once(char::is_whitespace) {
        keys.push(normalize_name(given));
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// A Patient resource plus `_search` (" key1 key2 …": a leading space before each key,
/// so `LIKE '% q%'` is a prefix match of any key) and `_kana` (the result order).
fn document(line: &str) -> Result<(String, String), BenchError> {
    let mut v: Value = serde_json::from_str(line)
        .map_err(|e| BenchError::Setup(format!("Patient.ndjson: a line is not JSON: {e}")))?;
    let mut search = String::new();
    let mut kana = String::new();
    if let Some(names) = v["name"].as_array() {
        for n in names {
            let text = n["text"].as_str().unwrap_or_default();
            for k in name_keys(text) {
                search.push(' ');
                search.push_str(&k);
            }
            if n["extension"][0]["valueCode"] == "SYL" {
                kana = text.nfkc().collect();
            }
        }
    }
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    v["_search"] = Value::String(search);
    v["_kana"] = Value::String(kana);
    Ok((id, v.to_string()))
}

/// COPY text format: backslash is the escape character (JSON has no raw tabs/newlines).
fn copy_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
}

impl Pg {
    pub fn load(conn: &str, patients_ndjson: &Path) -> Result<(Pg, LoadStats), BenchError> {
        let mut client = Client::connect(conn, NoTls)?;
        client.batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;
             DROP TABLE IF EXISTS patient;
             CREATE TABLE patient (id text PRIMARY KEY, resource jsonb NOT NULL);",
        )?;
        let t = Instant::now();
        let file =
            std::fs::File::open(patients_ndjson).map_err(|e| BenchError::io(patients_ndjson, e))?;
        let mut w = client.copy_in("COPY patient (id, resource) FROM STDIN")?;
        let mut buf = String::new();
        for line in BufReader::with_capacity(1 << 20, file).lines() {
            let line = line.map_err(|e| BenchError::io(patients_ndjson, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let (id, doc) = document(&line)?;
            buf.push_str(&copy_escape(&id));
            buf.push('\t');
            buf.push_str(&copy_escape(&doc));
            buf.push('\n');
            if buf.len() > 1 << 20 {
                w.write_all(buf.as_bytes())
                    .map_err(|e| BenchError::Setup(format!("COPY to PostgreSQL failed: {e}")))?;
                buf.clear();
            }
        }
        w.write_all(buf.as_bytes())
            .map_err(|e| BenchError::Setup(format!("COPY to PostgreSQL failed: {e}")))?;
        w.finish()?;
        let copy_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        client.batch_execute(
            "CREATE INDEX patient_doc ON patient USING gin (resource jsonb_path_ops);
             CREATE INDEX patient_names ON patient USING gin ((resource->>'_search') gin_trgm_ops);
             ANALYZE patient;",
        )?;
        let index_s = t.elapsed().as_secs_f64();
        let bytes: i64 = client
            .query_one("SELECT pg_total_relation_size('patient')", &[])?
            .get(0);
        // One more than Akari shows, so that "more matched" is known as for Akari.
        let order = "ORDER BY resource->>'_kana', resource->'identifier'->0->>'value' LIMIT 201";
        let cols = "SELECT resource->'identifier'->0->>'value' FROM patient";
        let by_id = client.prepare(&format!(
            "{cols} WHERE resource @> ($1::text)::jsonb {order}"
        ))?;
        let by_birth = client.prepare(&format!(
            "{cols} WHERE resource @> ($1::text)::jsonb {order}"
        ))?;
        let by_name = client.prepare(&format!(
            "{cols} WHERE resource->>'_search' LIKE $1 {order}"
        ))?;
        Ok((
            Pg {
                client,
                by_id,
                by_birth,
                by_name,
            },
            LoadStats {
                copy_s,
                index_s,
                bytes: bytes.max(0) as u64,
            },
        ))
    }

    /// The same dispatch as `SnapshotReader::search`: birth date, digits (hospital ID,
    /// NFKC and zero-padded to the hospital's 10 digits), else a name prefix.
    pub fn search(&mut self, query: &str) -> Result<Vec<String>, BenchError> {
        let rows = if let Some(d) = parse_birth_date_query(query) {
            let doc = json!({"birthDate": d.format("%Y-%m-%d").to_string()}).to_string();
            self.client.query(&self.by_birth, &[&doc])?
        } else {
            let digits: String = query.nfkc().filter(|c| !c.is_whitespace()).collect();
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                let doc = json!({"identifier": [{"value": format!("{digits:0>10}")}]}).to_string();
                self.client.query(&self.by_id, &[&doc])?
            } else {
                let q = normalize_name(query)
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                self.client.query(&self.by_name, &[&format!("% {q}%")])?
            }
        };
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<_, Option<String>>(0))
            .collect())
    }

    /// The process id of this connection's server backend (to read its CPU time).
    pub fn backend_pid(&mut self) -> Result<i32, BenchError> {
        Ok(self
            .client
            .query_one("SELECT pg_backend_pid()", &[])?
            .get(0))
    }

    /// The server settings that matter for the comparison, for the report.
    pub fn settings(&mut self) -> Result<String, BenchError> {
        let mut out = Vec::new();
        for name in ["server_version", "shared_buffers", "work_mem", "lc_ctype"] {
            let v: String = self.client.query_one(&format!("SHOW {name}"), &[])?.get(0);
            out.push(format!("{name}={v}"));
        }
        Ok(out.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_same_search_keys_as_akaris_index() {
        let line = r#"{"resourceType":"Patient","id":"p1","identifier":[{"value":"0020000001"}],
            "name":[{"extension":[{"valueCode":"IDE"}],"text":"髙橋 太郎"},
                    {"extension":[{"valueCode":"SYL"}],"text":"ﾀｶﾊｼ ﾀﾛｳ"}]}"#;
        let (id, doc) = document(&line.replace('\n', "")).unwrap();
        assert_eq!(id, "p1");
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["_search"], " 高橋太郎 太郎 タカハシタロウ タロウ");
        assert_eq!(v["_kana"], "タカハシ タロウ");
        assert_eq!(copy_escape(r#"a\"b"#), r#"a\\"b"#);
    }
}
