//! The HTTP client the REST and Bulk sources share: rustls, timeouts, retries with
//! exponential backoff on 429 / 5xx / dropped connections honouring `Retry-After`, a retry
//! budget per pull, and redirects followed by hand so credentials only ever go to the
//! configured server's origin.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, LOCATION, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};

use super::auth::Auth;
use super::{Config, SourceError};
use crate::engine::CancellationToken;

const MAX_REDIRECTS: u32 = 5;

/// Everything needed to build a client, read once at start-up.
#[derive(Debug)]
pub(crate) struct HttpSettings {
    pub base: Url,
    auth: Arc<Auth>,
    ca_pem: Option<Vec<u8>>,
    identity_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    read_timeout: Duration,
    pub max_attempts: u32,
    pub retry_budget: u32,
    backoff_initial: Duration,
    pub backoff_max: Duration,
    allow_plain_http: bool,
}

/// `base` + relative path, treating `base` as a directory.
/// Runs an HTTP pull to completion on a runtime of its own: `Source::pull` is blocking
/// (the engine calls it from its source thread), while reqwest is async.
pub(crate) fn block_on<T>(
    pull: impl std::future::Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SourceError::io(format!("cannot start the HTTP runtime: {e}"), e))?
        .block_on(pull)
}

pub(crate) fn join(base: &Url, path: &str) -> Result<Url, SourceError> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.join(path)
        .map_err(|e| SourceError::Config(format!("cannot build a URL from base_url: {e}")))
}

/// A reqwest error as text without the URL (query strings stay out of logs).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer"
    } else if e.is_request() {
        "the request failed"
    } else {
        "HTTP error"
    };
    // The source chain tells TLS problems apart; strip URLs from it.
    let mut detail = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        detail = s.to_string();
        src = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({detail})")
    }
}

/// Is `url` on this machine (a loopback address, `localhost` or a name under `.localhost`)?
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// Refuse plain `http://` to anything but this machine unless `allow_plain_http` is set:
/// patient data and credentials would cross the network unencrypted. The message says what
/// to do (and names no path or query).
pub(crate) fn refuse_plain_http(url: &Url, allow_plain_http: bool) -> Result<(), String> {
    if url.scheme() != "http" || allow_plain_http || is_loopback(url) {
        return Ok(());
    }
    Err(format!(
        "plain http:// to {} would carry patient data and credentials unencrypted; use \
         https://, or — only on a network you trust end to end — set \
         `allow_plain_http = true` in [sync.source] (see docs/sync-source.md)",
        url.host_str().unwrap_or("a remote host")
    ))
}

/// Scheme, host and port agree.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The path of a URL, for error messages (no query string).
pub(crate) fn path_of(u: &Url) -> String {
    u.path().to_string()
}

fn read_file(
    path: &Option<std::path::PathBuf>,
    what: &str,
) -> Result<Option<Vec<u8>>, SourceError> {
    match path {
        None => Ok(None),
        Some(p) => std::fs::read(p).map(Some).map_err(|e| {
            SourceError::Config(format!("cannot read {what} {}: {}", p.display(), e.kind()))
        }),
    }
}

impl HttpSettings {
    pub(crate) fn from_config(cfg: &Config) -> Result<HttpSettings, SourceError> {
        let base = cfg.base_url.as_deref().ok_or_else(|| {
            SourceError::Config(
                "[sync.source] needs `base_url`, the FHIR server's base URL (e.g. https://ehr.example/fhir)"
                    .into(),
            )
        })?;
        let base = Url::parse(base)
            .map_err(|e| SourceError::Config(format!("base_url is not a URL: {e}")))?;
        if !base.username().is_empty() || base.password().is_some() {
            return Err(SourceError::Config(
                "base_url must not contain credentials; put them in [sync.source.auth]".into(),
            ));
        }
        if base.scheme() != "https" && base.scheme() != "http" {
            return Err(SourceError::Config("base_url must be http(s)".into()));
        }
        refuse_plain_http(&base, cfg.allow_plain_http)
            .map_err(|m| SourceError::Config(format!("base_url: {m}")))?;
        if cfg.auth.kind == super::AuthKind::Mtls
            && (cfg.tls.client_cert_file.is_none() || cfg.tls.client_key_file.is_none())
        {
            return Err(SourceError::Config(
                "auth kind \"mtls\" needs [sync.source.tls] client_cert_file and client_key_file"
                    .into(),
            ));
        }
        let ca_pem = read_file(&cfg.tls.ca_file, "tls.ca_file")?;
        let identity_pem = match (
            read_file(&cfg.tls.client_cert_file, "tls.client_cert_file")?,
            read_file(&cfg.tls.client_key_file, "tls.client_key_file")?,
        ) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                Some(cert)
            }
            (None, None) => None,
            _ => {
                return Err(SourceError::Config(
                    "set both tls.client_cert_file and tls.client_key_file, or neither".into(),
                ))
            }
        };
        let s = HttpSettings {
            base,
            auth: Arc::new(Auth::from_config(&cfg.auth, cfg.allow_plain_http)?),
            ca_pem,
            identity_pem,
            connect_timeout: Duration::from_secs(cfg.connect_timeout_secs.max(1)),
            read_timeout: Duration::from_secs(cfg.timeout_secs.max(1)),
            max_attempts: cfg.max_attempts.max(1),
            retry_budget: cfg.retry_budget,
            backoff_initial: Duration::from_millis(cfg.backoff_initial_ms),
            backoff_max: Duration::from_secs(cfg.backoff_max_secs),
            allow_plain_http: cfg.allow_plain_http,
        };
        // Build once so bad certificates are reported at start-up.
        s.client()?;
        Ok(s)
    }

    /// A fresh client (one per pull: a client's connections belong to the runtime that
    /// made them, and each pull runs its own runtime).
    pub(crate) fn client(&self) -> Result<reqwest::Client, SourceError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .user_agent(concat!("akari-sync/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| {
                SourceError::Config("tls.ca_file holds no readable PEM certificate".into())
            })?;
            if certs.is_empty() {
                return Err(SourceError::Config(
                    "tls.ca_file holds no PEM certificate".into(),
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(pem) = &self.identity_pem {
            let id = reqwest::Identity::from_pem(pem).map_err(|_| {
                SourceError::Config(
                    "tls.client_cert_file / client_key_file are not a PEM certificate and private key"
                        .into(),
                )
            })?;
            b = b.identity(id);
        }
        b.build().map_err(|e| {
            SourceError::Config(format!("cannot build the HTTP client: {}", describe(&e)))
        })
    }
}

/// One pull's HTTP session: the client, the retry budget, the cancel token.
pub(crate) struct Session<'a> {
    pub settings: &'a HttpSettings,
    pub client: reqwest::Client,
    pub cancel: &'a CancellationToken,
    retries_used: u32,
}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req<'a> {
    pub accept: &'a str,
    pub prefer_async: bool,
}

pub(crate) fn parse_retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = t.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        settings: &'a HttpSettings,
        cancel: &'a CancellationToken,
    ) -> Result<Session<'a>, SourceError> {
        Ok(Session {
            settings,
            client: settings.client()?,
            cancel,
            retries_used: 0,
        })
    }

    pub(crate) fn retries_used(&self) -> u32 {
        self.retries_used
    }

    /// Sleep `d`, or return early with `Cancelled`.
    pub(crate) async fn sleep(&self, d: Duration) -> Result<(), SourceError> {
        tokio::select! {
            _ = self.cancel.cancelled() => Err(SourceError::Cancelled),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// Count one retry against the per-request attempts and the per-pull budget, then wait
    /// (`Retry-After` when given, else exponential backoff). `err` is what the caller
    /// reports if no retry is left.
    pub(crate) async fn backoff(
        &mut self,
        attempt: &mut u32,
        retry_after: Option<Duration>,
        err: SourceError,
    ) -> Result<(), SourceError> {
        *attempt += 1;
        if *attempt >= self.settings.max_attempts {
            return Err(with_note(
                err,
                &format!("gave up after {} attempts", self.settings.max_attempts),
            ));
        }
        if self.retries_used >= self.settings.retry_budget {
            return Err(with_note(
                err,
                &format!(
                    "the retry budget of {} retries for this pull is used up",
                    self.settings.retry_budget
                ),
            ));
        }
        self.retries_used += 1;
        let exp = self
            .settings
            .backoff_initial
            .saturating_mul(1u32 << (*attempt - 1).min(16));
        let jitter = Duration::from_millis(rand::random::<u64>() % 100);
        let wait = retry_after
            .unwrap_or(exp + jitter)
            .min(self.settings.backoff_max);
        tracing::warn!(
            attempt = *attempt,
            wait_ms = wait.as_millis() as u64,
            reason = %err,
            "retrying a request to the FHIR source"
        );
        self.sleep(wait).await
    }

    /// Send a GET and return the response once its status is 2xx (202 included), after
    /// retries and same-origin redirects. Credentials are attached only for the base URL's
    /// origin; a redirect elsewhere is followed without them.
    pub(crate) async fn get(&mut self, url: Url, req: Req<'_>) -> Result<Response, SourceError> {
        let mut attempt = 0u32;
        self.get_counting(url, req, &mut attempt).await
    }

    pub(crate) async fn get_counting(
        &mut self,
        url: Url,
        req: Req<'_>,
        attempt: &mut u32,
    ) -> Result<Response, SourceError> {
        let mut url = url;
        let mut hops = 0u32;
        let mut refreshed = false;
        loop {
            if self.cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            // Redirects, next pages, export status and file URLs come from the server.
            refuse_plain_http(&url, self.settings.allow_plain_http).map_err(|m| {
                SourceError::Protocol(format!("refused to fetch {}: {m}", path_of(&url)))
            })?;
            let with_creds = same_origin(&url, &self.settings.base);
            let Some(resp) = self.send_once(&url, req, with_creds, attempt).await? else {
                continue;
            };
            let status = resp.status();
            if status.is_redirection() {
                hops += 1;
                url = self.redirect_target(&resp, &url, hops)?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                if with_creds && !refreshed && self.settings.auth.invalidate() {
                    // A cached SMART token may have been revoked: get a new one once.
                    refreshed = true;
                    continue;
                }
                return Err(SourceError::Unauthorized(format!(
                    "HTTP {} for {}; check the credentials in [sync.source.auth]",
                    status.as_u16(),
                    path_of(&url)
                )));
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let ra = parse_retry_after(resp.headers());
                let err = SourceError::Http {
                    status: status.as_u16(),
                    detail: format!("for {}", path_of(&url)),
                };
                self.backoff(attempt, ra, err).await?;
                continue;
            }
            if status.is_success() {
                return Ok(resp);
            }
            return Err(SourceError::Http {
                status: status.as_u16(),
                detail: format!("for {}", path_of(&url)),
            });
        }
    }

    /// Send one GET (with credentials when `with_creds`). `None`: the token endpoint or
    /// the connection failed and the back-off was waited; the caller tries again.
    async fn send_once(
        &mut self,
        url: &Url,
        req: Req<'_>,
        with_creds: bool,
        attempt: &mut u32,
    ) -> Result<Option<Response>, SourceError> {
        let mut rb = self.request(url, req);
        if with_creds {
            rb = match self
                .settings
                .auth
                .apply(rb, &self.client, &self.settings.base)
                .await
            {
                Ok(rb) => rb,
                // The token endpoint was unreachable or failed on its side: retry.
                Err(e @ (SourceError::Connection(_) | SourceError::Http { .. })) => {
                    self.backoff(attempt, None, e).await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
        }
        let sent = tokio::select! {
            _ = self.cancel.cancelled() => return Err(SourceError::Cancelled),
            r = rb.send() => r,
        };
        match sent {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                let err = SourceError::Connection(format!("{} {}", path_of(url), describe(&e)));
                self.backoff(attempt, None, err).await?;
                Ok(None)
            }
        }
    }

    /// A GET of `url` with the headers `req` asks for (no credentials yet).
    fn request(&self, url: &Url, req: Req<'_>) -> reqwest::RequestBuilder {
        let rb = self.client.get(url.clone()).header(
            ACCEPT,
            HeaderValue::from_str(req.accept).unwrap_or(HeaderValue::from_static("*/*")),
        );
        if req.prefer_async {
            rb.header("Prefer", "respond-async")
        } else {
            rb
        }
    }

    /// Where the redirect `resp` to `url` points, if it is the `hops`-th at most
    /// [`MAX_REDIRECTS`] and has a usable `Location`.
    fn redirect_target(&self, resp: &Response, url: &Url, hops: u32) -> Result<Url, SourceError> {
        if hops > MAX_REDIRECTS {
            return Err(SourceError::Protocol(format!(
                "more than {MAX_REDIRECTS} redirects from {}",
                path_of(url)
            )));
        }
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| {
                SourceError::Protocol(format!(
                    "redirect without a usable Location from {}",
                    path_of(url)
                ))
            })?;
        if !same_origin(&loc, &self.settings.base) {
            tracing::warn!(
                "the FHIR source redirected to another host; following without credentials"
            );
        }
        Ok(loc)
    }

    /// DELETE with credentials, ignoring the outcome (e.g. telling a Bulk server it may
    /// drop the export files).
    pub(crate) async fn delete_best_effort(&self, url: Url) {
        if !same_origin(&url, &self.settings.base) {
            return;
        }
        let rb = self.client.delete(url);
        if let Ok(rb) = self
            .settings
            .auth
            .apply(rb, &self.client, &self.settings.base)
            .await
        {
            let _ = rb.send().await;
        }
    }

    /// GET and read the whole body (bounded pages: search Bundles, manifests). A body that
    /// breaks off is retried like a failed request.
    pub(crate) async fn get_bytes(
        &mut self,
        url: Url,
        req: Req<'_>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), SourceError> {
        let mut attempt = 0u32;
        loop {
            let resp = self.get_counting(url.clone(), req, &mut attempt).await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = tokio::select! {
                _ = self.cancel.cancelled() => return Err(SourceError::Cancelled),
                b = resp.bytes() => b,
            };
            match body {
                Ok(b) => return Ok((status, headers, b)),
                Err(e) => {
                    let err =
                        SourceError::Connection(format!("{} {}", path_of(&url), describe(&e)));
                    self.backoff(&mut attempt, None, err).await?;
                }
            }
        }
    }
}

fn with_note(err: SourceError, note: &str) -> SourceError {
    match err {
        SourceError::Http { status, detail } => SourceError::Http {
            status,
            detail: format!("{detail}; {note}"),
        },
        SourceError::Connection(m) => SourceError::Connection(format!("{m}; {note}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://ehr.example/fhir").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://ehr.example:443/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://ehr.example/fhir").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://ehr.example:8443/fhir").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://evil.example/fhir").unwrap()
        ));
    }

    #[test]
    fn base_url_with_credentials_is_refused() {
        let cfg = Config {
            base_url: Some("https://user:pw@ehr.example/fhir".into()),
            ..Config::default()
        };
        let e = HttpSettings::from_config(&cfg).unwrap_err();
        assert!(
            e.to_string().contains("must not contain credentials"),
            "{e}"
        );
        assert!(!e.to_string().contains("pw@"), "{e}");
    }
}
