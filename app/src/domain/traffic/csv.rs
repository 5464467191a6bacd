//! CSV export of traffic records.

use super::TrafficRecord;

/// Writes records as CSV with a header row. Cells that a spreadsheet would run as a formula
/// are prefixed with `'`.
pub fn write_csv(records: &[TrafficRecord], out: &mut String, header: bool) {
    fn cell(out: &mut String, v: &str) {
        let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{v}")
        } else {
            v.to_owned()
        };
        if v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&v);
        }
    }
    if header {
        out.push_str("time,source,model,provider,verdict,outcome,score,latency_ms,tokens_in,tokens_out,http_status,session_id,request_id,rules\n");
    }
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    for r in records {
        let rules: Vec<&str> = r.detections.iter().map(|d| d.rule.as_str()).collect();
        let cells = [
            r.at.to_rfc3339(),
            r.source.clone(),
            r.model.clone().unwrap_or_default(),
            r.provider.clone().unwrap_or_default(),
            r.verdict.as_str().to_owned(),
            r.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            opt(r.score),
            opt(r.latency_ms),
            opt(r.tokens_in),
            opt(r.tokens_out),
            opt(r.http_status),
            r.session_id.clone().unwrap_or_default(),
            r.request_id.clone().unwrap_or_default(),
            rules.join(" "),
        ];
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            cell(out, c);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::traffic::Outcome;
    use crate::domain::Verdict;
    use chrono::DateTime;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let record = TrafficRecord {
            id: 1,
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            source: "litellm".into(),
            model: Some("=HYPERLINK(\"x\")".into()),
            provider: Some("a,b".into()),
            verdict: Verdict::Allow,
            score: Some(0),
            latency_ms: Some(12),
            tokens_in: None,
            tokens_out: None,
            http_status: Some(200),
            session_id: None,
            request_id: Some("r1".into()),
            detections: vec![],
            direction: None,
            rescan_of: None,
            outcome: Some(Outcome::Completed),
            text_truncated: false,
            scan_coverage: None,
            response_scan: None,
        };
        let mut out = String::new();
        write_csv(&[record], &mut out, true);
        let line = out.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "2027-01-15T08:00:00+00:00,litellm,\"'=HYPERLINK(\"\"x\"\")\",\"a,b\",ALLOW,completed,0,12,,,200,,r1,"
        );
    }
}
