//! Unit tests of the plugin, in-process through `TestHost`.

use super::*;
use base64::engine::general_purpose::STANDARD;
use std::fs;
use vespene_plugin_api::ErrorCode;
use vespene_plugin_api::export::Dispatch;
use vespene_plugin_api::host::HostInfo;
use vespene_plugin_api::kinds::secrets::{
    Adapter, CloakResponse, DecloakResponse, RecognizesResponse,
};
use vespene_plugin_api::serde_json::{self, Value, json};
use vespene_plugin_api::testing::TestHost;

/// A host whose `info` names `key_file` as the secrets key file.
fn host_with_key_file(key_file: &str) -> TestHost {
    let info = HostInfo {
        secrets_key_file: key_file.to_string(),
        ..HostInfo::default()
    };
    TestHost::new(move |op, _| match op {
        "info" => Ok(serde_json::to_string(&info).unwrap()),
        other => Err(PluginError::unsupported(other)),
    })
}

fn create(th: &TestHost, params: Value) -> Result<BasicSecrets, PluginError> {
    BasicSecrets::create(CreateContext {
        name: "basic",
        params,
        host: th.host(),
    })
}

/// A directory with a fresh key file `secrets.key` (mode 0600).
struct Keyed {
    dir: tempfile::TempDir,
}

impl Keyed {
    fn new() -> Keyed {
        let dir = tempfile::tempdir().unwrap();
        let k = Keyed { dir };
        k.write(&generate_key_file_contents(), 0o600);
        k
    }
    fn path(&self) -> PathBuf {
        self.dir.path().join("secrets.key")
    }
    fn path_str(&self) -> String {
        self.path().to_str().unwrap().to_string()
    }
    fn write(&self, contents: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(self.path(), contents).unwrap();
        fs::set_permissions(self.path(), fs::Permissions::from_mode(mode)).unwrap();
    }
    /// The plugin reading this key file through the host's setting.
    fn plugin(&self) -> (TestHost, BasicSecrets) {
        let th = host_with_key_file(&self.path_str());
        let p = create(&th, Value::Null).unwrap();
        (th, p)
    }
}

fn body_bytes(value: &str) -> Vec<u8> {
    STANDARD
        .decode(value.strip_prefix(V2_HEADER).unwrap())
        .unwrap()
}

#[test]
fn round_trips_ascii_utf8_large_and_empty() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    let large: String = "0123456789abcdef".repeat(100 * 1024 / 16);
    assert_eq!(large.len(), 100 * 1024);
    for plain in [
        "s3cret",
        "pässwörd ✓ 秘密 🔑 \"quotes\" <tags> \n\ttabs",
        large.as_str(),
        "",
    ] {
        let stored = p.cloak(plain).unwrap();
        assert!(
            stored.starts_with("[VESPENE-CLOAK][BASIC][V2]"),
            "{stored:.40}"
        );
        assert!(!stored.contains(plain) || plain.is_empty());
        assert!(p.recognizes(&stored));
        assert_eq!(p.decloak(&stored).unwrap(), plain);
        // nonce (24) + ciphertext (same length as the plaintext) + tag (16)
        assert_eq!(body_bytes(&stored).len(), 24 + plain.len() + 16);
    }
}

#[test]
fn every_value_gets_its_own_nonce() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    let a = p.cloak("same").unwrap();
    let b = p.cloak("same").unwrap();
    assert_ne!(a, b);
    assert_ne!(body_bytes(&a)[..24], body_bytes(&b)[..24]);
    assert_eq!(p.decloak(&a).unwrap(), p.decloak(&b).unwrap());
}

#[test]
fn any_flipped_byte_fails_authentication() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    let stored = p.cloak("tamper with me").unwrap();
    let raw = body_bytes(&stored);
    for i in 0..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let value = format!("{V2_HEADER}{}", STANDARD.encode(&bad));
        let err = p.decloak(&value).unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert!(
            err.message.contains("failed authentication"),
            "byte {i}: {err}"
        );
    }
    // Truncated, and not base64 at all.
    let short = format!("{V2_HEADER}{}", STANDARD.encode(&raw[..39]));
    assert!(
        p.decloak(&short)
            .unwrap_err()
            .message
            .contains("shorter than")
    );
    let junk = format!("{V2_HEADER}***");
    assert!(p.decloak(&junk).unwrap_err().message.contains("not base64"));
    // A V2 body moved under another version tag is not accepted.
    let moved = stored.replacen("[V2]", "[V3]", 1);
    assert!(
        p.decloak(&moved)
            .unwrap_err()
            .message
            .contains("unknown version '[V3]'")
    );
}

#[test]
fn another_key_cannot_decrypt() {
    let (a, b) = (Keyed::new(), Keyed::new());
    let (_ta, pa) = a.plugin();
    let (_tb, pb) = b.plugin();
    let stored = pa.cloak("for a only").unwrap();
    assert!(
        pb.recognizes(&stored),
        "recognizing is by header, not by key"
    );
    let err = pb.decloak(&stored).unwrap_err();
    assert!(err.message.contains("another key"), "{err}");
}

#[test]
fn missing_key_file_is_not_a_create_error_but_cloak_says_what_to_do() {
    let k = Keyed::new();
    let (_t, keyed) = k.plugin();
    let earlier = keyed.cloak("made before the file went away").unwrap();
    fs::remove_file(k.path()).unwrap();

    let th = host_with_key_file(&k.path_str());
    let p = create(&th, Value::Null).unwrap();
    let logs = th.logs();
    assert!(
        logs.iter()
            .any(|(lvl, m)| *lvl == LogLevel::Warn as i32 && m.contains(&k.path_str())),
        "{logs:?}"
    );
    let err = p.cloak("x").unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(err.message.contains(&k.path_str()), "{err}");
    assert!(err.message.contains("vespene secrets generate"), "{err}");
    assert!(!p.recognizes(&earlier));
    assert!(
        p.decloak(&earlier)
            .unwrap_err()
            .message
            .contains("does not exist")
    );

    // Once the file is generated, the same instance uses it.
    k.write(&generate_key_file_contents(), 0o600);
    let stored = p.cloak("now it works").unwrap();
    assert_eq!(p.decloak(&stored).unwrap(), "now it works");
    assert!(p.recognizes(&stored));
}

#[test]
fn no_key_file_configured_anywhere() {
    let th = host_with_key_file("");
    let p = create(&th, Value::Null).unwrap();
    let err = p.cloak("x").unwrap_err();
    assert!(
        err.message.contains("no secrets key file is configured"),
        "{err}"
    );
    // A host that cannot say, with no parameter either, is a create error.
    let err = create(&TestHost::unsupported(), Value::Null).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParams);
    assert!(err.message.contains("key_file"), "{err}");
}

#[test]
fn malformed_key_file_is_a_create_error_naming_file_and_reason() {
    let k = Keyed::new();
    let cases = [
        ("not base64 at all!\n", "not standard base64"),
        ("# comment\nc2hvcnQ=\n", "5 bytes"),
        (
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==\n",
            "34 bytes",
        ),
        ("# only comments\n\n   \n", "holds no key"),
    ];
    for (contents, reason) in cases {
        k.write(contents, 0o600);
        let th = host_with_key_file(&k.path_str());
        let err = create(&th, Value::Null).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams, "{contents:?}");
        assert!(err.message.contains(&k.path_str()), "{err}");
        assert!(err.message.contains(reason), "{contents:?}: {err}");
    }
    fs::write(k.path(), b"\xff\xfe binary").unwrap();
    let th = host_with_key_file(&k.path_str());
    assert!(
        create(&th, Value::Null)
            .unwrap_err()
            .message
            .contains("not UTF-8")
    );
    // A directory is not a key file.
    let th = host_with_key_file(k.dir.path().to_str().unwrap());
    let err = create(&th, Value::Null).unwrap_err();
    assert!(err.message.contains("not a regular file"), "{err}");
}

#[test]
fn key_file_parameter_wins_over_the_host_setting() {
    let (a, b) = (Keyed::new(), Keyed::new());
    let (_ta, pa) = a.plugin();
    let stored = pa.cloak("via parameter").unwrap();
    let th = host_with_key_file(&b.path_str());
    let p = create(&th, json!({ "key_file": a.path_str() })).unwrap();
    assert_eq!(p.decloak(&stored).unwrap(), "via parameter");
    // The host is not even asked when the parameter is given.
    let p = create(
        &TestHost::unsupported(),
        json!({ "key_file": a.path_str() }),
    )
    .unwrap();
    assert_eq!(p.decloak(&stored).unwrap(), "via parameter");
    let err = create(&th, json!({ "key_file": " " })).unwrap_err();
    assert!(err.message.contains("key_file"), "{err}");
    let err = create(&th, json!({ "keyfile": "/x" })).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParams);
    assert!(err.message.contains("keyfile"), "{err}");
}

#[test]
fn key_file_readable_by_others_is_logged() {
    let k = Keyed::new();
    let (th, _p) = k.plugin();
    assert!(th.logs().is_empty(), "{:?}", th.logs());
    for mode in [0o644, 0o640, 0o604] {
        k.write(&generate_key_file_contents(), mode);
        let (th, p) = k.plugin();
        let logs = th.logs();
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(logs[0].0, LogLevel::Warn as i32);
        assert!(logs[0].1.contains(&k.path_str()), "{logs:?}");
        assert!(logs[0].1.contains(&format!("{mode:04o}")), "{logs:?}");
        assert!(p.cloak("still works").is_ok());
    }
}

#[test]
fn recognizes_only_its_own_readable_versions() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    let v2 = p.cloak("x").unwrap();
    assert!(p.recognizes(&v2));
    for other in [
        "",
        "plain-old-password",
        "[VESPENE-CLOAK]",
        "[VESPENE-CLOAK][BASIC]",
        "[VESPENE-CLOAK][BASIC][V9]abcd",
        "[VESPENE-CLOAK][OTHER][V2]abcd",
        "[VESPENE-CLOAKED][BASIC][V2]abcd",
        // V1 needs the legacy key, which this instance does not have.
        "[VESPENE-CLOAK][BASIC][V1]abcd",
    ] {
        assert!(!p.recognizes(other), "{other}");
    }
}

#[test]
fn unrecognized_values_are_errors_that_do_not_echo_the_value() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    for (value, says) in [
        ("hunter2-plaintext", "not an encrypted secret"),
        ("[VESPENE-CLOAK][VAULT]hunter2", "another secrets plugin"),
        (
            "[VESPENE-CLOAK][BASIC][V9]hunter2",
            "unknown version '[V9]'",
        ),
        ("[VESPENE-CLOAK][BASIC]hunter2", "no version tag"),
        ("[VESPENE-CLOAK][BASIC][hunter2-long]", "no version tag"),
    ] {
        let err = p.decloak(value).unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed);
        assert!(err.message.contains(says), "{value}: {err}");
        assert!(!err.message.contains("hunter2"), "{err}");
    }
}

#[test]
fn debug_output_shows_no_key() {
    let k = Keyed::new();
    let key_line = fs::read_to_string(k.path())
        .unwrap()
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    let th = host_with_key_file(&k.path_str());
    let p = create(
        &th,
        json!({ "legacy_fernet_key": "eSY5LYfY2QVSXkJYdbBM5AZBdOb0e89UHEdeaXgzf7w=" }),
    )
    .unwrap();
    let shown = format!("{p:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(shown.contains(&k.path_str()), "{shown}");
    assert!(!shown.contains(&key_line), "{shown}");
    assert!(!shown.contains("eSY5LYfY"), "{shown}");
    let key = keyfile::parse_key_text(&key_line).unwrap();
    assert_eq!(format!("{key:?}"), "KeyBytes(<redacted>)");
}

// ---- legacy V1 (Fernet) values of the original ----

struct Vectors {
    key: String,
    vectors: Vec<(String, String)>,
    must_fail: Vec<(String, String)>,
    plaintext_legacy: String,
}

fn vectors() -> Vectors {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/testdata/original-fernet-secrets.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    let pairs = |key: &str, a: &str, b: &str| -> Vec<(String, String)> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[a].as_str().unwrap().to_string(),
                    e[b].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    Vectors {
        key: v["symetric_secret_key"].as_str().unwrap().to_string(),
        vectors: pairs("vectors", "plaintext", "stored"),
        must_fail: pairs("must_fail", "why", "stored"),
        plaintext_legacy: v["plaintext_legacy"]["stored"]
            .as_str()
            .unwrap()
            .to_string(),
    }
}

#[test]
fn decrypts_every_vector_of_the_original() {
    let v = vectors();
    assert!(v.vectors.len() >= 4);
    let k = Keyed::new();
    let th = host_with_key_file(&k.path_str());
    let p = create(&th, json!({ "legacy_fernet_key": v.key })).unwrap();
    for (plain, stored) in &v.vectors {
        assert!(stored.starts_with(V1_HEADER));
        assert!(p.recognizes(stored));
        assert_eq!(&p.decloak(stored).unwrap(), plain);
        // Re-encrypting writes V2, never V1.
        let again = p.cloak(plain).unwrap();
        assert!(again.starts_with(V2_HEADER));
        assert_eq!(&p.decloak(&again).unwrap(), plain);
    }
    for (why, stored) in &v.must_fail {
        let err = p.decloak(stored).unwrap_err();
        assert_eq!(err.code, ErrorCode::Failed, "{why}");
        assert!(
            err.message
                .contains("cannot decrypt a [VESPENE-CLOAK][BASIC][V1]"),
            "{why}: {err}"
        );
    }
    // A value without the header is the core's business (returned verbatim);
    // this plugin does not claim it.
    assert!(!p.recognizes(&v.plaintext_legacy));
    assert!(p.decloak(&v.plaintext_legacy).is_err());
}

#[test]
fn legacy_key_from_a_file_including_the_originals_secrets_py() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    let th = host_with_key_file("");
    let secrets_py = dir.path().join("secrets.py");
    fs::write(
        &secrets_py,
        format!(
            "\nDJANGO_SECRET_KEY = \"x*y\"\n\nSYMETRIC_SECRET_KEY = b'{}'\n",
            v.key
        ),
    )
    .unwrap();
    let bare = dir.path().join("fernet.key");
    fs::write(&bare, format!("# the old key\n{}\n", v.key)).unwrap();
    for file in [&secrets_py, &bare] {
        let p = create(&th, json!({ "legacy_fernet_key_file": file })).unwrap();
        let (plain, stored) = &v.vectors[1];
        assert_eq!(&p.decloak(stored).unwrap(), plain);
    }
}

#[test]
fn legacy_parameters_are_validated() {
    let v = vectors();
    let th = host_with_key_file("");
    let err = create(
        &th,
        json!({ "legacy_fernet_key": v.key, "legacy_fernet_key_file": "/x" }),
    )
    .unwrap_err();
    assert!(err.message.contains("not both"), "{err}");
    let err = create(&th, json!({ "legacy_fernet_key": "c2hvcnQ=" })).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidParams);
    assert!(
        err.message.contains("legacy_fernet_key") && err.message.contains("32"),
        "{err}"
    );
    let err = create(
        &th,
        json!({ "legacy_fernet_key_file": "/nonexistent/secrets.py" }),
    )
    .unwrap_err();
    assert!(
        err.message.contains("/nonexistent/secrets.py") && err.message.contains("does not exist"),
        "{err}"
    );

    // Without a legacy key, V1 values are not recognized and decloak says why.
    let p = create(&th, Value::Null).unwrap();
    let (_, stored) = &v.vectors[0];
    assert!(!p.recognizes(stored));
    let err = p.decloak(stored).unwrap_err();
    assert!(err.message.contains("legacy_fernet_key"), "{err}");
    // A wrong legacy key fails the HMAC.
    let other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let p = create(&th, json!({ "legacy_fernet_key": other })).unwrap();
    let err = p.decloak(stored).unwrap_err();
    assert!(err.message.contains("HMAC does not match"), "{err}");
}

#[test]
fn json_operations_through_the_export_adapter() {
    let k = Keyed::new();
    let (_th, p) = k.plugin();
    let adapter = Adapter(p);
    let out = adapter.call("cloak", r#"{"plaintext":"über"}"#).unwrap();
    let CloakResponse { value } = serde_json::from_str(&out).unwrap();
    let args = serde_json::to_string(&json!({ "value": value })).unwrap();
    let out = adapter.call("recognizes", &args).unwrap();
    let r: RecognizesResponse = serde_json::from_str(&out).unwrap();
    assert!(r.recognized);
    let out = adapter.call("decloak", &args).unwrap();
    let d: DecloakResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(d.plaintext, "über");
    let err = adapter.call("decloak", r#"{"value":"plain"}"#).unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
}
