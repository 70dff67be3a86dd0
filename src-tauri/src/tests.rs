//! The commands without a display: Tauri's mock runtime, a real app-core on a temporary
//! folder, and a real sync server (demo data, dev clock) in this process. Checks the command
//! names, the snake_case arguments and the error shape the UI relies on.

use std::sync::Arc;

use app_core::{AppCore, CoreOptions, TokenStoreKind};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;

fn invoke(w: &tauri::WebviewWindow<tauri::test::MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("json"))
}

#[test]
fn commands_wrap_the_engine_one_to_one() {
    let server = tauri::async_runtime::block_on(sync_server::start(sync_server::config::Config::for_tests()))
        .expect("sync server");
    let url = server.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let core = AppCore::open(CoreOptions {
        data_dir: dir.path().to_path_buf(),
        token_store: TokenStoreKind::Memory,
        clock: Arc::new(app_core::SystemClock),
    })
    .expect("app-core");
    let app = crate::with_commands(mock_builder())
        .manage(core)
        .build(mock_context(noop_assets()))
        .expect("app");
    let w = WebviewWindowBuilder::new(&app, "main", Default::default()).build().expect("window");

    // Signed out: no session, and reads say why in the UI's error shape.
    assert_eq!(invoke(&w, "session", json!({})), Ok(Value::Null));
    let err = invoke(&w, "start_page", json!({"child_id": uuid::Uuid::nil()})).expect_err("signed out");
    assert_eq!(err["code"], "not_signed_in", "{err}");
    assert!(err["message"].is_string());

    // R-ACC-2's hint rests on this code.
    let err = invoke(&w, "sign_in", json!({"server_url": url, "username": "anna", "password": "hub-demo-1 "}))
        .expect_err("trailing space");
    assert_eq!(err["code"], "invalid_credentials", "{err}");

    let session = invoke(&w, "sign_in", json!({"server_url": url, "username": "anna", "password": "hub-demo-1"}))
        .expect("sign in");
    assert_eq!(session["user"]["username"], "anna");
    let children = session["children"].as_array().expect("children").clone();
    assert_eq!(children.len(), 2, "{session}");
    let elsa = children.iter().find(|c| c["first_name"] == "Elsa").expect("Elsa")["id"].clone();

    let status = invoke(&w, "sync_now", json!({})).expect("sync");
    assert_eq!(status["online"], true, "{status}");

    let page = invoke(&w, "start_page", json!({"child_id": elsa})).expect("start page");
    assert!(page["boxes"].as_array().is_some_and(|b| !b.is_empty()), "{page}");

    let absences = invoke(&w, "absences", json!({"child_id": elsa})).expect("absences");
    let tomorrow = absences["tomorrow"].clone();
    let id = invoke(&w, "report_absence", json!({"child_id": elsa, "date": tomorrow, "lessons": null, "comment": "Ledig"}))
        .expect("report");
    assert!(id.as_str().is_some_and(|s| s.parse::<uuid::Uuid>().is_ok()), "{id}");
    let outbox = invoke(&w, "outbox", json!({})).expect("outbox");
    assert!(outbox.as_array().is_some(), "{outbox}");

    // A date outside the window is refused locally with the contract's code (R-ABS-1).
    let err = invoke(&w, "report_absence", json!({"child_id": elsa, "date": "2020-01-01", "lessons": null, "comment": null}))
        .expect_err("out of window");
    assert_eq!(err["code"], "absence_out_of_window", "{err}");

    let week = invoke(&w, "care_week", json!({"child_id": elsa, "week_start": absences["today"]})).expect("week");
    assert_eq!(week["days"].as_array().map(Vec::len), Some(7), "{week}");

    for cmd in ["sync_status", "needs_attention", "settings", "unread_messages", "take_notify_events"] {
        invoke(&w, cmd, json!({})).unwrap_or_else(|e| panic!("{cmd}: {e}"));
    }
    invoke(&w, "notifications", json!({"child_id": elsa})).expect("notifications");
    invoke(&w, "talks", json!({"child_id": elsa})).expect("talks");
    invoke(&w, "info", json!({"child_id": elsa})).expect("info");

    let mut settings = invoke(&w, "settings", json!({})).expect("settings");
    settings["locale"] = json!("en");
    invoke(&w, "set_settings", json!({"settings": settings})).expect("set settings");
    assert_eq!(invoke(&w, "settings", json!({})).expect("settings")["locale"], "en");

    invoke(&w, "sign_out", json!({})).expect("sign out");
    assert_eq!(invoke(&w, "session", json!({})), Ok(Value::Null));
}

#[test]
fn notification_text_names_the_child() {
    use domain::view::NotifyEvent;
    use domain::wire::entity::{Notification, NotificationCategory};
    let ev = NotifyEvent {
        notification: Notification {
            id: uuid::Uuid::nil(),
            child_id: None,
            category: NotificationCategory::News,
            item_type: "news".into(),
            item_id: uuid::Uuid::nil(),
            title: "Utflykt till skogen på torsdag".into(),
            created_at: chrono::Utc::now(),
            read: false,
        },
        child_name: Some("Elsa".into()),
    };
    assert_eq!(crate::notification_text(&ev), ("Hub · Elsa".into(), "Utflykt till skogen på torsdag".into()));
}
