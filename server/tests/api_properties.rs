//! Property-based tests of the API against its own document: schemathesis
//! (the standard tool, from PyPI, installed by `make test` into
//! target/api-tools) reads `/v1/openapi.json` from the running service and
//! sends what the document allows and what it does not, then checks every
//! answer: no 5xx, every status documented, every body valid against its
//! schema, valid requests accepted, invalid ones refused, auth not ignored.
//! Once with a device credential, once with a clinician's login token (and
//! the device header break-the-glass needs). Bounded: a fixed number of
//! examples per operation (`WARDBOOK_API_EXAMPLES`, default 25) and a time
//! budget per run (`WARDBOOK_API_SECONDS`, default 60), from a fixed seed
//! (`WARDBOOK_API_SEED`) so that a failure replays; `make soak` runs more.
//! Synthetic data only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::TestServer;
use wardbook_protocol::api::Role;
use wardbook_server::auth::DEVICE_HEADER;
use wardbook_server::serve;

/// The schemathesis command: `WARDBOOK_SCHEMATHESIS`, or the one `make test`
/// installs. Missing, the test fails and says how to install it.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("WARDBOOK_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/api-tools/venv/bin/schemathesis"));
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run `scripts/install-deps.sh --with-api-tools` (make test does), \
         or point WARDBOOK_SCHEMATHESIS at it",
        path.display()
    );
    path
}

fn run(base: &str, label: &str, headers: &[String]) {
    let examples = std::env::var("WARDBOOK_API_EXAMPLES").unwrap_or_else(|_| "25".into());
    let seed = std::env::var("WARDBOOK_API_SEED").unwrap_or_else(|_| "20261204".into());
    let seconds = std::env::var("WARDBOOK_API_SECONDS").unwrap_or_else(|_| "60".into());
    let workdir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(schemathesis());
    cmd.arg("run")
        .arg(format!("{base}/v1/openapi.json"))
        .args(["--url", base, "--checks", "all", "--max-examples", &examples, "--seed", &seed])
        .args(["--max-time", &seconds, "--request-timeout", "20", "--max-failures", "20"])
        .env("NO_COLOR", "1")
        // Nothing leaves the machine: no telemetry.
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(workdir.path());
    for header in headers {
        cmd.args(["--header", header]);
    }
    println!("schemathesis ({label}) with seed {seed}, {examples} examples per operation");
    let out = cmd.output().expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "schemathesis ({label}) found failures (replay with WARDBOOK_API_SEED={seed}); see the output above"
    );
    // It must have tested something: every operation of the document.
    assert!(stdout.contains("passed"), "schemathesis ({label}) reported no tests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_to_its_document_for_devices_and_clinicians() {
    let server = TestServer::start().await;
    server.synth(6, 42).await;
    server.add_user("nurse.synthetic", &[Role::Clinician]).await;
    let device = server.enrol("Ward 7A").await;
    let token = server.login(&device, "nurse.synthetic").await;

    let running = serve::start(server.settings.clone()).await.expect("serve");
    let base = format!("http://{}", running.addr);
    let device_auth = format!("Authorization: Bearer {}", device.credential);
    let user_auth = format!("Authorization: Bearer {token}");
    let device_header = format!("{DEVICE_HEADER}: {}", device.credential);
    // schemathesis blocks its thread; the service runs on this runtime's workers.
    let (b, d) = (base.clone(), device_auth.clone());
    tokio::task::spawn_blocking(move || run(&b, "device credential", &[d])).await.unwrap();
    tokio::task::spawn_blocking(move || run(&base, "clinician token", &[user_auth, device_header])).await.unwrap();

    // The device the runs used is still the service's: nothing they sent
    // revoked it or broke the service.
    let (status, body) = server.call(axum::http::Method::GET, "/v1/device", Some(&device.credential), None).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
    let (status, body) = server.call(axum::http::Method::GET, "/v1/health", None, None).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
}
