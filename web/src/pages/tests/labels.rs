//! Label and wristband prints fail closed: when the audit record cannot be written, no
//! patient data is shown.

use super::*;

/// Every label and wristband print of the fake snapshot's patient and ward.
const PRINTS: [&str; 4] = [
    "/patients/k-maki/labels",
    "/patients/k-maki/wristband",
    "/wards/5%E9%9A%8E%E8%A5%BF/labels",
    "/wards/5%E9%9A%8E%E8%A5%BF/wristbands",
];

#[tokio::test]
async fn label_prints_show_nothing_when_the_audit_fails() {
    let mut app = App::new();
    app.login_and_declare().await;
    let ok = app.get("/patients/k-maki/labels").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.body.contains("マキノ ランマン") && ok.body.contains("ペニシリン"));
    app.sink.fail_records(true);
    for path in PRINTS {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            !r.body.contains("牧野") && !r.body.contains("ペニシリン") && !r.body.contains("<svg"),
            "{path}"
        );
        assert!(r.body.contains("監査記録"), "{path}: explains why");
    }
}

#[tokio::test]
async fn label_pages_escape_what_the_source_wrote() {
    let mut app = App::new();
    app.login_and_declare().await;
    for path in ["/patients/k-xss/labels", "/patients/k-xss/wristband"] {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(!r.body.contains("<script>document"), "{path}");
        assert!(r.body.contains("&#60;script&#62;"), "{path}");
    }
}

#[tokio::test]
async fn label_prints_need_a_declared_clinician() {
    let mut app = App::new();
    for path in PRINTS {
        let r = app.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !r.body.contains("牧野") && !r.body.contains("<svg"),
            "{path}"
        );
    }
    assert!(
        app.sink.events().is_empty(),
        "nothing read, nothing recorded"
    );
}
