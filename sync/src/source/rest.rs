//! FHIR R4 REST search source: per resource type `GET [base]/[Type]?_count=N`, following
//! `Bundle.link[next]`; incremental pulls add `_lastUpdated=ge<t>` and learn deletions
//! from `GET [base]/[Type]/_history?_since=<t>` (the newest history entry of a resource
//! decides: a DELETE there becomes [`Change::Delete`]).

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::{HeaderMap, DATE};
use reqwest::Url;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::{join, path_of, same_origin, HttpSettings, Req, Session};
use super::{Change, Config, PullKind, PullSummary, SinkStopped, Source, SourceError};
use crate::engine::CancellationToken;

const FHIR_JSON: &str = "application/fhir+json";

#[derive(Debug)]
pub struct RestSource {
    http: HttpSettings,
    types: Vec<String>,
    page_size: u32,
    history_deletions: bool,
}

#[derive(Deserialize)]
struct Bundle<'a> {
    #[serde(rename = "resourceType")]
    resource_type: String,
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default, borrow)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "lastUpdated")]
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct Link {
    relation: String,
    url: String,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(default, borrow)]
    resource: Option<&'a RawValue>,
    #[serde(default)]
    search: Option<SearchMode>,
    #[serde(default)]
    request: Option<Request>,
}

#[derive(Deserialize)]
struct SearchMode {
    mode: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    method: String,
    url: String,
}

fn server_time(bundle: &Bundle<'_>, headers: &HeaderMap) -> Option<DateTime<Utc>> {
    if let Some(t) = bundle
        .meta
        .as_ref()
        .and_then(|m| m.last_updated.as_deref())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    {
        return Some(t.with_timezone(&Utc));
    }
    headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(crate) fn fhir_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl RestSource {
    pub fn new(config: &Config) -> Result<RestSource, SourceError> {
        Ok(RestSource {
            http: HttpSettings::from_config(config)?,
            types: config.types(),
            page_size: config.page_size.clamp(1, 10_000),
            history_deletions: config.history_deletions,
        })
    }

    fn next_link(&self, bundle: &Bundle<'_>, current: &Url) -> Result<Option<Url>, SourceError> {
        let Some(l) = bundle.link.iter().find(|l| l.relation == "next") else {
            return Ok(None);
        };
        let next = current.join(&l.url).map_err(|_| {
            SourceError::Protocol(format!(
                "unusable next link in a page of {}",
                path_of(current)
            ))
        })?;
        if !same_origin(&next, &self.http.base) {
            return Err(SourceError::Protocol(
                "a next link points to another host; refusing to send credentials there".into(),
            ));
        }
        if &next == current {
            return Err(SourceError::Protocol(format!(
                "the next link of {} points to itself",
                path_of(current)
            )));
        }
        Ok(Some(next))
    }

    /// Page through a search or history, calling `each` on every page's bundle.
    async fn pages(
        &self,
        s: &mut Session<'_>,
        first: Url,
        summary: &mut PullSummary,
        high_water: &mut Option<DateTime<Utc>>,
        mut each: impl FnMut(&Bundle<'_>) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let mut url = first;
        loop {
            let (_, headers, body) = s
                .get_bytes(
                    url.clone(),
                    Req {
                        accept: FHIR_JSON,
                        prefer_async: false,
                    },
                )
                .await?;
            summary.bytes += body.len() as u64;
            let bundle: Bundle<'_> = serde_json::from_slice(&body).map_err(|e| {
                SourceError::Protocol(format!(
                    "a page of {} is not a FHIR Bundle (JSON error at line {} column {})",
                    path_of(&url),
                    e.line(),
                    e.column()
                ))
            })?;
            if bundle.resource_type != "Bundle" {
                return Err(SourceError::Protocol(format!(
                    "{} answered a {} instead of a Bundle",
                    path_of(&url),
                    if bundle.resource_type.len() < 40 {
                        bundle.resource_type.as_str()
                    } else {
                        "resource"
                    }
                )));
            }
            if high_water.is_none() {
                *high_water = server_time(&bundle, &headers);
            }
            each(&bundle)?;
            match self.next_link(&bundle, &url)? {
                Some(n) => url = n,
                None => return Ok(()),
            }
        }
    }

    /// Deletions since `t` from `<Type>/_history?_since=` of every type: the newest
    /// history entry of a resource decides (a DELETE there becomes [`Change::Delete`]).
    /// Also used by the Bulk source when its manifest cannot be trusted for deletions.
    pub(super) async fn deletions_since(
        &self,
        s: &mut Session<'_>,
        t: DateTime<Utc>,
        summary: &mut PullSummary,
        high_water: &mut Option<DateTime<Utc>>,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<(), SourceError> {
        let count = self.page_size.to_string();
        for ty in &self.types {
            let mut url = join(&self.http.base, &format!("{ty}/_history"))?;
            url.query_pairs_mut()
                .append_pair("_since", &fhir_instant(t))
                .append_pair("_count", &count);
            let mut decided: HashSet<String> = HashSet::new();
            let mut deletions = vec![];
            self.pages(s, url, summary, high_water, |b| {
                for e in &b.entry {
                    let Some(r) = &e.request else { continue };
                    let Some((rt, id)) = super::split_reference(&r.url) else {
                        continue;
                    };
                    if &rt != ty || !decided.insert(id.clone()) {
                        continue;
                    }
                    if r.method.eq_ignore_ascii_case("DELETE") {
                        deletions.push(Change::Delete {
                            resource_type: rt,
                            id,
                        });
                    }
                }
                Ok(())
            })
            .await?;
            for d in deletions {
                summary.deletions += 1;
                sink(d).map_err(|_| SourceError::Stopped)?;
            }
        }
        Ok(())
    }

    /// The HTTP settings (the Bulk source opens its history session with them).
    pub(super) fn http(&self) -> &HttpSettings {
        &self.http
    }

    async fn run(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let mut s = Session::new(&self.http, cancel)?;
        let mut summary = PullSummary::default();
        let mut high_water = None;
        let count = self.page_size.to_string();

        // Deletions first, so a resource deleted and re-created ends up present.
        if let PullKind::Since(t) = kind {
            if self.history_deletions {
                self.deletions_since(&mut s, t, &mut summary, &mut high_water, sink)
                    .await?;
            } else {
                summary.deletions_unreported = true;
            }
        }

        for ty in &self.types {
            let mut url = join(&self.http.base, ty)?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("_count", &count);
                if let PullKind::Since(t) = kind {
                    q.append_pair("_lastUpdated", &format!("ge{}", fhir_instant(t)));
                }
            }
            let mut resources = 0u64;
            self.pages(&mut s, url, &mut summary, &mut high_water, |b| {
                for e in &b.entry {
                    if e.search.as_ref().and_then(|m| m.mode.as_deref()) == Some("outcome") {
                        continue;
                    }
                    if let Some(r) = e.resource {
                        resources += 1;
                        sink(Change::Upsert(r.get().as_bytes().to_vec()))
                            .map_err(|_| SourceError::Stopped)?;
                    }
                }
                if cancel.is_cancelled() {
                    return Err(SourceError::Cancelled);
                }
                Ok(())
            })
            .await?;
            summary.resources += resources;
        }
        summary.high_water = high_water;
        if s.retries_used() > 0 {
            tracing::info!(retries = s.retries_used(), "REST pull needed retries");
        }
        Ok(summary)
    }
}

impl Source for RestSource {
    fn describe(&self) -> String {
        format!("fhir-rest {}", self.http.base)
    }

    fn pull(
        &self,
        kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        super::http::block_on(self.run(kind, cancel, sink))
    }
}
