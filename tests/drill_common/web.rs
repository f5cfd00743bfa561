//! A small browser for the drill and console tests: HTTPS through reqwest trusting only the node's
//! certificate, a cookie store (the `__Host-akari` session cookie, set and cleared by the
//! node), redirects followed by hand so every hop's cookies are kept, and the CSRF token
//! read from the page's forms the way a browser submits it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use rustls::pki_types::CertificateDer;

/// One response as the user would see it.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    /// Where a redirect pointed (the final page when following).
    pub location: Option<String>,
    /// The path this page was finally served from.
    pub path: String,
    pub body: String,
}

impl Page {
    /// The CSRF token of the page's forms (every form carries the same session token).
    pub fn csrf(&self) -> String {
        attr_after(&self.body, "name=\"csrf\"", "value")
            .unwrap_or_else(|| panic!("no CSRF token on {} ({})", self.path, self.status))
    }

    /// Whether the page's text (entities decoded) contains `needle`.
    pub fn has(&self, needle: &str) -> bool {
        unescape(&self.body).contains(needle)
    }

    /// The text of the element with this `id`, tags stripped (rough, for assertions).
    pub fn text_of(&self, id: &str) -> Option<String> {
        let start = self.body.find(&format!("id=\"{id}\""))?;
        let open_end = start + self.body[start..].find('>')? + 1;
        let tag_start = self.body[..start].rfind('<')?;
        let tag: String = self.body[tag_start + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let close = format!("</{tag}>");
        // Nested same-name tags: count opens until the matching close.
        let open = format!("<{tag}");
        let mut depth = 1;
        let mut at = open_end;
        while depth > 0 {
            let next_close = self.body[at..].find(&close)? + at;
            let next_open = self.body[at..].find(&open).map(|i| i + at);
            match next_open {
                Some(o) if o < next_close => {
                    depth += 1;
                    at = o + open.len();
                }
                _ => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(strip_tags(&self.body[open_end..next_close]));
                    }
                    at = next_close + close.len();
                }
            }
        }
        None
    }

    /// Every `href` starting with `prefix`, in page order.
    pub fn links(&self, prefix: &str) -> Vec<String> {
        let pat = format!("href=\"{prefix}");
        let mut out = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(i) = rest.find(&pat) {
            let from = i + "href=\"".len();
            let end = rest[from..].find('"').expect("closed attribute") + from;
            out.push(unescape(&rest[from..end]));
            rest = &rest[end..];
        }
        out
    }

    /// The table row containing `needle`, or `None`.
    pub fn row_with(&self, needle: &str) -> Option<&str> {
        let at = self.body.find(needle)?;
        let start = self.body[..at].rfind("<tr")?;
        let end = self.body[at..].find("</tr>")? + at;
        Some(&self.body[start..end])
    }
}

fn attr_after(body: &str, marker: &str, attr: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_end = body[at..].find('>')? + at;
    let tag = &body[at..tag_end];
    let pat = format!("{attr}=\"");
    let from = tag.find(&pat)? + pat.len();
    let end = tag[from..].find('"')? + from;
    Some(unescape(&tag[from..end]))
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

pub fn unescape(s: &str) -> String {
    s.replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// Decodes a percent-encoded path segment (the templates use `urlencode_strict`).
pub fn decode_segment(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 path segment")
}

/// A browser: one cookie store, one trusted certificate.
pub struct Web {
    client: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl Web {
    /// Trusts only `cert`, reaches the node as `localhost` at `addr`, asks for English
    /// (the assertions read the English texts; Japanese is the default otherwise).
    pub fn new(cert: &CertificateDer<'static>, addr: SocketAddr) -> Web {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert.clone())
            .expect("the node's certificate parses");
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .resolve("localhost", addr)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(
                [(
                    reqwest::header::ACCEPT_LANGUAGE,
                    reqwest::header::HeaderValue::from_static("en"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .expect("HTTPS client");
        Web {
            client,
            base: format!("https://localhost:{}", addr.port()),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The stored cookie by this name.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.cookies.lock().unwrap();
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn store_cookies(&self, response: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().expect("ASCII cookie");
            let mut parts = value.split(';').map(str::trim);
            let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| a.eq_ignore_ascii_case("Max-Age=0"));
            if expired || val.is_empty() {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), val.to_owned());
            }
        }
    }

    async fn send(&self, builder: reqwest::RequestBuilder, path: &str) -> Page {
        let builder = match self.cookie_header() {
            Some(c) => builder.header(COOKIE, c),
            None => builder,
        };
        let response = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        self.store_cookies(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.expect("body");
        Page {
            status,
            location,
            path: path.to_owned(),
            body,
        }
    }

    /// One GET, redirects not followed.
    pub async fn get_once(&self, path: &str) -> Page {
        self.send(self.client.get(format!("{}{path}", self.base)), path)
            .await
    }

    /// GET, following redirects (at most 5), as a browser would.
    pub async fn get(&self, path: &str) -> Page {
        self.follow(self.get_once(path).await).await
    }

    /// One form POST, redirects not followed.
    pub async fn post_once(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(
            self.client.post(format!("{}{path}", self.base)).form(form),
            path,
        )
        .await
    }

    /// POST then follow the redirect with GETs (303 See Other), as a browser would.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.follow(self.post_once(path, form).await).await
    }

    async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..5 {
            if !page.status.is_redirection() {
                return page;
            }
            let to = page.location.clone().expect("redirect with a Location");
            assert!(to.starts_with('/'), "redirect off the node: {to}");
            let mut next = self.get_once(&to).await;
            next.location = Some(to);
            page = next;
        }
        panic!("too many redirects ending at {}", page.path);
    }
}

/// `Label : value` on a printed seal sheet (the bilingual label contains `english`).
pub fn sheet_field(sheet: &str, english: &str) -> String {
    sheet
        .lines()
        .find(|l| l.contains(english) && l.contains(':'))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| panic!("no `{english}` on the seal sheet"))
}
