use super::*;

#[test]
fn the_example_file_documents_exactly_the_defaults() {
    let text = include_str!("../../edge.toml");
    let parsed = EdgeConfig::parse(text, "edge.toml").unwrap();
    assert_eq!(parsed, EdgeConfig::default());
    // Every key is written out (uncommented) in the example, so a new key without an
    // entry there fails here.
    let value: toml::Value = toml::from_str(text).unwrap();
    let defaults = toml::Value::try_from(EdgeConfig::default()).unwrap();
    fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = format!("{prefix}{k}");
                keys(v, &format!("{path}."), out);
                out.push(path);
            }
        }
    }
    let (mut written, mut all) = (Vec::new(), Vec::new());
    keys(&value, "", &mut written);
    keys(&defaults, "", &mut all);
    let missing: Vec<_> = all.iter().filter(|k| !written.contains(k)).collect();
    assert!(missing.is_empty(), "edge.toml lacks {missing:?}");
}

#[test]
fn partial_tables_keep_the_other_defaults() {
    let c = EdgeConfig::parse("[policy.fear]\nraise = 0.7\n[detection]\ndetect_every = 1\n", "t").unwrap();
    assert_eq!(c.policy.fear.raise, 0.7);
    assert_eq!(c.policy.fear.clear, shared::policy::config::DEFAULT_FEAR_CLEAR);
    assert_eq!(c.policy.anger, PolicyConfig::default().anger);
    assert_eq!(c.detection.detect_every, 1);
    assert_eq!(c.detection.cascade, None);
    assert_eq!(c.detection.min_face, DEFAULT_MIN_FACE);
    assert_eq!(c.detection.smooth_box, DEFAULT_SMOOTH_BOX);
    let c = EdgeConfig::parse("[detection]\nsmooth_box = false\n", "t").unwrap();
    assert!(!c.detection.smooth_box);
    assert_eq!(EdgeConfig::parse("", "t").unwrap(), EdgeConfig::default());
}

#[test]
fn errors_name_the_key() {
    let msg = |text: &str| EdgeConfig::parse(text, "edge.toml").unwrap_err().to_string();
    let m = msg("[policy.anger]\nraise = \"high\"\n");
    assert!(m.starts_with("edge.toml: policy.anger.raise (line 2): "), "{m}");
    let m = msg("[policy.anger]\nrase = 0.5\n");
    assert!(m.contains("policy.anger") && m.contains("rase"), "{m}");
    let m = msg("[outputs]\nheartbeat_ms = -1\n");
    assert!(m.contains("outputs.heartbeat_ms"), "{m}");
    let m = msg("[policy.fear]\nclear = 0.9\n");
    assert_eq!(
        m,
        "edge.toml: policy.fear.clear: must be below the raise threshold (hysteresis)"
    );
    let m = msg("[detection]\ndetect_every = 0\n");
    assert!(m.starts_with("edge.toml: detection.detect_every: "), "{m}");
    let m = msg(
        "[preprocessing]\nsize = 64\nmargin = 0.0\nenhancement = \"None\"\nnormalization = { scale = 1.0, offset = 0.0 }\n",
    );
    assert!(m.starts_with("edge.toml: preprocessing.size: "), "{m}");
    let m = msg("[source\n");
    assert!(m.starts_with("edge.toml: line 1"), "{m}");
    let m = msg("[outputs.gpio]\nled_line = 17\n");
    assert!(m.starts_with("edge.toml: outputs.gpio.led_line: "), "{m}");
}

/// Values that parse but would poison the loop: a NaN scale makes every input NaN, a rate
/// near zero puts frame times past the clock, a huge buzzer time overflows.
#[test]
fn out_of_range_numbers_are_refused_with_their_key() {
    let msg = |text: &str| EdgeConfig::parse(text, "edge.toml").unwrap_err().to_string();
    let norm = |scale: &str, offset: &str| {
        format!(
            "[preprocessing]\nsize = 48\nmargin = 0.0\nenhancement = \"None\"\nnormalization = {{ scale = {scale}, offset = {offset} }}\n"
        )
    };
    for (scale, offset, key) in [
        ("nan", "0.0", "scale"),
        ("inf", "0.0", "scale"),
        ("0.0", "0.0", "scale"),
        ("1.0", "nan", "offset"),
        ("1.0", "-inf", "offset"),
    ] {
        let m = msg(&norm(scale, offset));
        assert!(
            m.starts_with(&format!("edge.toml: preprocessing.normalization.{key}: ")),
            "{m}"
        );
    }
    assert!(EdgeConfig::parse(&norm("0.5", "-1.0"), "t").is_ok());
    for fps in ["1e-20", "0.0", "nan", "1e9"] {
        let m = msg(&format!("[source]\nfps = {fps}\n"));
        assert!(m.starts_with("edge.toml: source.fps: "), "{m}");
    }
    for (text, key) in [
        ("retry_initial_ms = 0", "retry_initial_ms"),
        ("retry_initial_ms = 9", "retry_initial_ms"),
        ("retry_max_ms = 5001", "retry_max_ms"),
        ("retry_initial_ms = 2000\nretry_max_ms = 1000", "retry_initial_ms"),
    ] {
        let m = msg(&format!("[source]\n{text}\n"));
        assert!(m.starts_with(&format!("edge.toml: source.{key}: ")), "{m}");
    }
    assert!(EdgeConfig::parse("[source]\nretry_initial_ms = 10\nretry_max_ms = 5000\n", "t").is_ok());
    let m = msg("[outputs]\nbuzzer_ms = 18446744073709551615\n");
    assert!(m.starts_with("edge.toml: outputs.buzzer_ms: "), "{m}");
    assert!(EdgeConfig::parse("[outputs]\nbuzzer_ms = 60000\n", "t").is_ok());
}

#[test]
fn the_manifest_decides_the_preprocessing() {
    let manifest = Preprocessing::default();
    assert_eq!(EdgeConfig::default().preprocessing_for(&manifest).unwrap(), manifest);
    let same = EdgeConfig {
        preprocessing: Some(manifest),
        ..EdgeConfig::default()
    };
    assert_eq!(same.preprocessing_for(&manifest).unwrap(), manifest);
    let mut other = manifest;
    other.margin = 0.2;
    let differs = EdgeConfig {
        preprocessing: Some(other),
        ..EdgeConfig::default()
    };
    let err = differs.preprocessing_for(&manifest).unwrap_err();
    assert!(matches!(err, ConfigError::PreprocessingMismatch { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains("margin: 0.2") && err.contains("margin: 0.0"), "{err}");
    assert!(err.starts_with("[preprocessing] in the config is "), "{err}");
}
