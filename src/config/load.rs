//! Loading the configuration: the file, then environment variables, then command-line
//! flags, `_file` keys read from their files, each key's origin kept for error messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, ENV_PREFIX, ENV_SEPARATOR, FILE_SUFFIX};

/// A value given on the command line for a configuration key.
#[derive(Debug, Clone)]
pub struct FlagOverride {
    /// Dotted key, e.g. `server.listen`.
    pub key: &'static str,
    pub value: toml::Value,
    /// The flag as the user typed it, e.g. `--listen`.
    pub flag: &'static str,
}

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub data_dir: PathBuf,
    /// An explicitly named file must exist; without one, `<data>/akari.toml` is used if
    /// present.
    pub file: Option<PathBuf>,
    /// Environment variables (name, value); only `AKARI_*__*` names are read.
    pub env: Vec<(String, String)>,
    pub flags: Vec<FlagOverride>,
}

impl Sources {
    /// The process environment's `AKARI_*` variables.
    pub fn process_env() -> Vec<(String, String)> {
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect()
    }
}

/// Loads, merges, resolves `_file` keys, deserialises and validates.
pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
    let mut merged = toml::Table::new();
    let mut origins = Origins::default();

    if let Some(path) = config_file(sources) {
        merged = read_file(&path)?;
        origins.default_origin = format!("configuration file {}", path.display());
    }
    merge_env(&mut merged, &mut origins, &sources.env)?;
    for flag in &sources.flags {
        let segments: Vec<String> = flag.key.split('.').map(str::to_owned).collect();
        set_key(&mut merged, &segments, flag.value.clone()).map_err(|message| {
            ConfigError::Invalid {
                key: flag.key.to_owned(),
                origin: format!("flag {}", flag.flag),
                message,
            }
        })?;
        origins.set(flag.key, format!("flag {}", flag.flag));
    }

    resolve_file_keys(&mut merged, "", &sources.data_dir, &mut origins)?;

    let mut config: Config =
        serde_path_to_error::deserialize(toml::Value::Table(merged)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid {
                origin: origins.of(&key),
                key,
                message: e.into_inner().message().trim().to_owned(),
            }
        })?;
    config.data_dir = sources.data_dir.clone();
    config.validate().map_err(|e| match e {
        ConfigError::Invalid { key, message, .. } => ConfigError::Invalid {
            origin: origins.of(&key),
            key,
            message,
        },
        other => other,
    })?;
    Ok(config)
}

/// The configuration file given, else the data directory's when it exists.
fn config_file(sources: &Sources) -> Option<PathBuf> {
    match &sources.file {
        Some(path) => Some(path.clone()),
        None => {
            let default = sources.data_dir.join(crate::datadir::CONFIG_FILE);
            default.exists().then_some(default)
        }
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `AKARI_<SECTION>__<KEY>` variables over the file's keys.
fn merge_env(
    merged: &mut toml::Table,
    origins: &mut Origins,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains(ENV_SEPARATOR) {
            // Command-line level variables such as AKARI_DATA_DIR are handled by clap.
            continue;
        }
        let segments: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                name: name.clone(),
                message: "expected AKARI_<SECTION>__<KEY>, e.g. AKARI_SERVER__LISTEN".to_owned(),
            });
        }
        let key = segments.join(".");
        set_key(merged, &segments, parse_scalar(raw)).map_err(|message| ConfigError::Env {
            name: name.clone(),
            message,
        })?;
        origins.set(&key, format!("environment variable {name}"));
    }
    Ok(())
}

/// Which source set each key, for error messages.
#[derive(Default)]
struct Origins {
    by_key: BTreeMap<String, String>,
    default_origin: String,
}

impl Origins {
    fn set(&mut self, key: &str, origin: String) {
        self.by_key.insert(key.to_owned(), origin);
    }

    fn of(&self, key: &str) -> String {
        let mut probe = key;
        loop {
            if let Some(origin) = self.by_key.get(probe) {
                return origin.clone();
            }
            match probe.rsplit_once('.') {
                Some((parent, _)) => probe = parent,
                None => break,
            }
        }
        // A key nobody set explicitly is either from the file or a default that failed a
        // cross-key rule.
        if self.default_origin.is_empty() {
            "built-in defaults".to_owned()
        } else {
            self.default_origin.clone()
        }
    }
}

/// Interprets an environment value as TOML (`true`, `8443`, `["a", "b"]`), or else as a
/// plain string (`0.0.0.0:8443`).
fn parse_scalar(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn set_key(table: &mut toml::Table, segments: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = segments.split_last().ok_or("empty key")?;
    let mut current = table;
    for (i, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is a value, not a section", segments[..=i].join(".")))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

/// Sections whose `*_file` keys are real settings naming a file that the section's code
/// reads itself (credentials of the sync source, the ledger's remote CA), not the generic
/// "read this key's value from a file" form.
const LITERAL_FILE_KEY_SECTIONS: &[&str] = &["sync.source", "ledger"];

/// Replaces every `X_file = "path"` by `X = "<content of path>"`.
fn resolve_file_keys(
    table: &mut toml::Table,
    prefix: &str,
    data_dir: &Path,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Some(toml::Value::Table(inner)) = table.get_mut(&key) {
            if !LITERAL_FILE_KEY_SECTIONS.contains(&dotted.as_str()) {
                resolve_file_keys(inner, &dotted, data_dir, origins)?;
            }
            continue;
        }
        let Some(base) = key.strip_suffix(FILE_SUFFIX) else {
            continue;
        };
        let base_dotted = dotted
            .strip_suffix(FILE_SUFFIX)
            .unwrap_or(&dotted)
            .to_owned();
        let origin = origins.of(&dotted);
        if table.contains_key(base) {
            return Err(ConfigError::Invalid {
                key: dotted,
                origin,
                message: format!("`{base_dotted}` is also set; set only one of the two"),
            });
        }
        let Some(toml::Value::String(path)) = table.remove(&key) else {
            return Err(ConfigError::Invalid {
                key: dotted,
                origin,
                message: "expected a file path in quotes".to_owned(),
            });
        };
        let path = data_dir.join(path);
        let content = std::fs::read_to_string(&path).map_err(|source| ConfigError::KeyFile {
            key: base_dotted.clone(),
            origin: origin.clone(),
            path: path.clone(),
            source,
        })?;
        let content = content
            .strip_suffix('\n')
            .map(|c| c.strip_suffix('\r').unwrap_or(c))
            .unwrap_or(&content);
        table.insert(base.to_owned(), toml::Value::String(content.to_owned()));
        origins.set(&base_dotted, format!("{origin} (via `{dotted}`)"));
    }
    Ok(())
}
