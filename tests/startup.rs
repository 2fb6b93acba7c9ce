//! Start-up errors: one clear line naming the file, the component and the problem.

use folio_tests::{
    Host, HostOptions, build_fixtures, fixtures_manifest, start_failure,
    start_failure_with_runtime_config, wasm,
};

fn single_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    lines[0]
}

#[test]
fn a_malformed_manifest_fails_with_one_line() {
    let (code, stderr) = start_failure("spin_manifest_version = 2\n[application\nname = 1\n", &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.starts_with("folio: error: "), "{line}");
    assert!(line.contains("spin.toml"), "{line}");
}

#[test]
fn a_trigger_naming_an_unknown_component_fails() {
    let manifest = "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"ghost\"\n";
    let (code, stderr) = start_failure(manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("component `ghost` is not defined"), "{line}");
}

#[test]
fn a_missing_wasm_names_the_component_and_the_file() {
    let manifest = "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"absent\"\n[component.absent]\nsource = \"nowhere/absent.wasm\"\n";
    let (code, stderr) = start_failure(manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("component `absent`"), "{line}");
    assert!(line.contains("nowhere/absent.wasm"), "{line}");
}

#[test]
fn an_import_the_host_does_not_provide_fails_at_start() {
    build_fixtures();
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"llm\"\n[component.llm]\nsource = \"{}\"\n",
        wasm("folio_fixture_unlinkable").display()
    );
    let (code, stderr) = start_failure(&manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("component `llm`"), "{line}");
    assert!(line.contains("fermyon:spin/llm"), "{line}");
}

#[test]
fn a_required_variable_without_a_value_fails_and_says_how_to_set_it() {
    build_fixtures();
    let manifest = fixtures_manifest(&[]).replace(
        "greeting = { default = \"hello\" }",
        "greeting = { required = true }",
    );
    let (code, stderr) = start_failure(&manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("FOLIO_VAR_GREETING"), "{line}");
    // ... and the same manifest starts once the variable is set.
    let host = Host::start_with(
        &manifest,
        HostOptions {
            env: vec![("FOLIO_VAR_GREETING".into(), "hey".into())],
            ..Default::default()
        },
    );
    drop(host);
}

#[test]
fn a_second_start_reuses_the_compile_cache() {
    build_fixtures();
    let data_dir = tempfile::tempdir().unwrap();
    // A compile cache of its own, empty, instead of the one test hosts share.
    std::fs::create_dir(data_dir.path().join("compiled")).unwrap();
    let options = || HostOptions {
        data_dir: Some(data_dir.path().to_path_buf()),
        ..Default::default()
    };
    let first = Host::start_with(&fixtures_manifest(&[]), options());
    first.wait_for_log(|v| v["message"] == "component loaded" && v["data"]["cached"] == false);
    drop(first);
    let second = Host::start_with(&fixtures_manifest(&[]), options());
    second.wait_for_log(|v| v["message"] == "component loaded" && v["data"]["cached"] == true);
    assert!(
        !second.logs().iter().any(|l| l.contains("\"cached\":false")),
        "second start recompiled"
    );
}

#[test]
fn a_runtime_config_binding_no_component_declares_fails_at_start() {
    let (code, stderr) = start_failure_with_runtime_config(
        &fixtures_manifest(&[]),
        "[key_value_store.sesions]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n",
    );
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("[key_value_store.sesions]"), "{line}");
}

/// SpinKube's executor runs `up --listen 0.0.0.0:80 -f <app image>
/// --runtime-config-file /runtime-config.toml [--component-id …]` in the
/// executor's image: Folio serves the app baked into its image for that
/// reference, with only the components kept.
#[tokio::test]
async fn the_spinkube_executor_command_line_serves_the_baked_app() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[rate_limits]\nexempt = [\"127.0.0.1\"]\n").unwrap();
    let reference = "registry.example.com/folio-app:1.0";
    let line: Vec<String> = [
        "up",
        "--listen",
        "127.0.0.1:0",
        "-f",
        reference,
        "--runtime-config-file",
        &config.display().to_string(),
        "--component-id",
        "routes",
    ]
    .map(String::from)
    .to_vec();
    let env = vec![
        (
            "FOLIO_BAKED_APP".to_string(),
            "{manifest_dir}/spin.toml".to_string(),
        ),
        ("FOLIO_APP_REFERENCE".to_string(), reference.to_string()),
    ];
    let host = Host::start_command_line(&fixtures_manifest(&[]), &line, env, None);
    let status = |path: &str| {
        let url = host.url(path);
        async move {
            folio_tests::client()
                .get(url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("/exact").await, 200);
    assert_eq!(
        status("/fx/hello").await,
        404,
        "a component not kept is not served"
    );
    drop(host);

    // Another app's reference, or a component the app lacks: refused at start.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, fixtures_manifest(&[])).unwrap();
    let run = |reference: &str, component: &str| {
        let output = std::process::Command::new(folio_tests::folio_bin())
            .args([
                "up",
                "--listen",
                "127.0.0.1:0",
                "-f",
                reference,
                "--component-id",
                component,
            ])
            .env("FOLIO_BAKED_APP", &manifest)
            .env("FOLIO_APP_REFERENCE", "registry.example.com/folio-app:1.0")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stderr) = run("registry.example.com/other-app:2.0", "routes");
    assert_ne!(code, Some(0));
    assert!(
        single_line(&stderr).contains("this image holds `registry.example.com/folio-app:1.0`"),
        "{stderr}"
    );
    let (code, stderr) = run(reference, "ghost");
    assert_ne!(code, Some(0));
    assert!(
        single_line(&stderr).contains("--component-id `ghost`"),
        "{stderr}"
    );
}
