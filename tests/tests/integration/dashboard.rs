//! The Grafana dashboard in `dashboards/` names only metrics poolvc exports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

/// Every PromQL query: panel targets' `expr`, and the `query` of template
/// variables of type `query` (a datasource variable's `query` is a plugin
/// name, not PromQL).
fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            let is_query_var = m.get("type").and_then(|t| t.as_str()) == Some("query");
            for (k, x) in m {
                if (k == "expr" || (k == "query" && is_query_var)) && x.is_string() {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    queries(x, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| queries(x, out)),
        _ => {}
    }
}

fn metric_names(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = q.as_bytes();
    let mut i = 0;
    while let Some(p) = q[i..].find("poolvc_") {
        let start = i + p;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        out.push(q[start..end].to_string());
        i = end;
    }
    out
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let _machine = poolvc_tests::turns::shared();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards/poolvc-pools.json");
    let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let exported: BTreeSet<String> = poolvc::metrics::exported_metric_names().into_iter().collect();
    assert!(exported.contains("poolvc_perf_operator_performance"), "{exported:?}");
    let mut qs = Vec::new();
    queries(&dash, &mut qs);
    assert!(qs.len() >= 15, "{} queries", qs.len());
    let mut named = BTreeSet::new();
    for q in &qs {
        let names = metric_names(q);
        assert!(!names.is_empty(), "query {q:?} names no poolvc metric");
        for n in names {
            assert!(exported.contains(&n), "query {q:?} names {n}, which poolvc does not export");
            named.insert(n);
        }
    }
    // Every per-operator performance metric is on the dashboard.
    for m in exported.iter().filter(|m| m.starts_with("poolvc_perf_operator_")) {
        assert!(named.contains(m), "{m} is exported but not on the dashboard");
    }
}

#[test]
fn a_query_naming_an_unknown_metric_is_caught() {
    let _machine = poolvc_tests::turns::shared();
    assert_eq!(metric_names("rate(poolvc_nope_total[5m]) + poolvc_x"), vec!["poolvc_nope_total", "poolvc_x"]);
}
