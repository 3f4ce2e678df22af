//! One record to one event, as `tikstream.mapping.compile.EventMapper` does it, for the jobs
//! `tikstream/mapping/native.py` hands over (path sources only; the user fields, property kinds and sections
//! listed there). Everything here either produces exactly the Python mapper's bytes or says `Python`.

use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::phone::{PErr, PhoneData, PHONES};
use crate::text::{hex, is_hex, json_float, push_json_str, py_space, py_strip};

pub enum Mapped {
    Event,
    Unwanted,
    Python,
}

#[derive(Clone, Copy, PartialEq)]
pub enum UKind {
    Email,
    Phone,
    ExternalId,
    Text,
    Ip,
    /// idfa, gaid: a dashed UUID (`uuid` policy) or any text (`any`), never the all-zero id
    Maid { any: bool },
    Att,
}

#[derive(Clone, Copy)]
enum PKind {
    Number,
    Text,
    Currency,
}

pub struct Path {
    segs: Vec<(String, Option<usize>)>,
}

impl Path {
    fn from_py(obj: &Bound<PyAny>) -> PyResult<Path> {
        let parts: Vec<String> = obj.extract()?;
        let segs = parts
            .into_iter()
            .map(|p| {
                let idx = if p.bytes().all(|b| b.is_ascii_digit()) { p.parse::<usize>().ok() } else { None };
                (p, idx)
            })
            .collect();
        Ok(Path { segs })
    }

    /// `tikstream.records.compile_path`: one or two segments read dicts only; longer paths also index lists.
    fn get<'a>(&self, doc: &'a Map<String, Value>) -> Option<&'a Value> {
        let mut cur = doc.get(&self.segs[0].0)?;
        if self.segs.len() == 2 {
            return cur.as_object()?.get(&self.segs[1].0);
        }
        for (key, idx) in &self.segs[1..] {
            cur = match cur {
                Value::Object(m) => m.get(key)?,
                Value::Array(a) => a.get((*idx)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

pub struct Spec {
    job_id: String,
    event_name: String,
    events: Vec<String>,
    audiences: Vec<String>,
    pub user: Vec<(String, UKind, bool, Path)>,
    props: Vec<(String, PKind, Path)>,
    event_time: Option<Path>,
    event_id: Option<Path>,
    /// `page` (web) or `app` (app): its name, the job's fixed entries (JSON, without braces), texts by path
    section: Option<(String, String, Vec<(String, Path)>)>,
    limited_data_use: Option<bool>,
    phone_region: Option<String>,
    pub phone_policy: String,
    pub has_phone: bool,
}

fn opt_path(obj: Bound<PyAny>) -> PyResult<Option<Path>> {
    if obj.is_none() {
        Ok(None)
    } else {
        Ok(Some(Path::from_py(&obj)?))
    }
}

fn need<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?.ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(key.to_string()))
}

impl Spec {
    pub fn from_py(d: &Bound<PyDict>) -> PyResult<Spec> {
        let mut user = Vec::new();
        for item in need(d, "user")?.iter()? {
            let item = item?;
            let t = item.downcast::<PyTuple>()?;
            let kind = match t.get_item(1)?.extract::<String>()?.as_str() {
                "email" => UKind::Email,
                "phone" => UKind::Phone,
                "external_id" => UKind::ExternalId,
                "text" => UKind::Text,
                "ip" => UKind::Ip,
                "maid" => UKind::Maid { any: false },
                "maid_any" => UKind::Maid { any: true },
                "att" => UKind::Att,
                other => return Err(pyo3::exceptions::PyValueError::new_err(format!("user kind {other}"))),
            };
            user.push((t.get_item(0)?.extract()?, kind, t.get_item(2)?.extract()?, Path::from_py(&t.get_item(3)?)?));
        }
        let mut props = Vec::new();
        for item in need(d, "properties")?.iter()? {
            let item = item?;
            let t = item.downcast::<PyTuple>()?;
            let kind = match t.get_item(1)?.extract::<String>()?.as_str() {
                "number" => PKind::Number,
                "text" => PKind::Text,
                "currency" => PKind::Currency,
                other => return Err(pyo3::exceptions::PyValueError::new_err(format!("property kind {other}"))),
            };
            props.push((t.get_item(0)?.extract()?, kind, Path::from_py(&t.get_item(2)?)?));
        }
        let section_obj = need(d, "section")?;
        let section = if section_obj.is_none() {
            None
        } else {
            let t = section_obj.downcast::<PyTuple>()?;
            let mut entries = Vec::new();
            for item in t.get_item(2)?.iter()? {
                let item = item?;
                let e = item.downcast::<PyTuple>()?;
                entries.push((e.get_item(0)?.extract()?, Path::from_py(&e.get_item(1)?)?));
            }
            Some((t.get_item(0)?.extract()?, t.get_item(1)?.extract()?, entries))
        };
        let has_phone = user.iter().any(|u| u.1 == UKind::Phone);
        Ok(Spec {
            job_id: need(d, "job_id")?.extract()?,
            event_name: need(d, "event_name")?.extract()?,
            events: need(d, "events")?.extract()?,
            audiences: need(d, "audiences")?.extract()?,
            user,
            props,
            event_time: opt_path(need(d, "event_time")?)?,
            event_id: opt_path(need(d, "event_id")?)?,
            section,
            limited_data_use: need(d, "limited_data_use")?.extract()?,
            phone_region: need(d, "phone_region")?.extract()?,
            phone_policy: need(d, "phone_policy")?.extract()?,
            has_phone,
        })
    }
}

// Outcome indexes (the order of tikstream.mapping.hashing.Outcome)
const HASHED: usize = 0;
const PREHASHED: usize = 1;
const PLAIN: usize = 2;
const MISSING: usize = 4;

/// A normalised value: Ok((value, outcome)), Ok(None) for missing, Err for "invalid or not decided here"
/// (either way the record goes to Python, which counts and explains invalid values itself).
type Norm = Result<Option<(String, usize)>, ()>;

/// `normalise._text`: the trimmed text, None for missing.
fn text_of(raw: &Value, numbers: bool) -> Result<Option<String>, ()> {
    match raw {
        Value::String(s) => {
            let t = py_strip(s);
            Ok(if t.is_empty() { None } else { Some(t.to_string()) })
        }
        Value::Null => Ok(None),
        Value::Number(n) if numbers => {
            if let Some(u) = n.as_u64() {
                Ok(Some(u.to_string()))
            } else if n.is_i64() {
                Err(()) // negative
            } else {
                let f = n.as_f64().ok_or(())?;
                if f.fract() == 0.0 && (0.0..1e30).contains(&f) {
                    Ok(Some((f as u128).to_string()))
                } else {
                    Err(())
                }
            }
        }
        _ => Err(()),
    }
}

fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// `normalise._email` on ASCII text; None: invalid.
fn clean_email(s: &str) -> Result<Option<String>, ()> {
    if !s.is_ascii() {
        return Err(()); // Unicode lower-casing: left to Python
    }
    let s = s.to_ascii_lowercase();
    if s.len() > 254 || s.chars().any(py_space) {
        return Ok(None);
    }
    let (local, domain) = match s.split_once('@') {
        Some(p) => p,
        None => return Ok(None),
    };
    if local.is_empty() || domain.contains('@') {
        return Ok(None);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    Ok(if labels.len() > 1 && !labels.contains(&"") { Some(s) } else { None })
}

/// `phones._digits` on ASCII text: (digits, has a "+"), or None when it is no phone.
fn phone_digits(s: &str) -> Result<Option<(String, bool)>, ()> {
    if !s.is_ascii() {
        return Err(());
    }
    if s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Ok(None);
    }
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || digits.len() > 17 {
        return Ok(None);
    }
    if let Some(plus) = s.find('+') {
        if s.matches('+').count() > 1 || s[..plus].bytes().any(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        return Ok(Some((digits, true)));
    }
    Ok(Some((digits, false)))
}

/// `phones.phone_e164` for "valid" and "possible": the number, "" (dropped) or None (not decided here).
pub fn phone_decide(phones: &PhoneData, s: &str, region: Option<&str>, policy: &str) -> Option<String> {
    let (digits, plus) = match phone_digits(s) {
        Ok(Some(d)) => d,
        Ok(None) => return Some(String::new()),
        Err(()) => return None,
    };
    match phones.e164(&digits, plus, region, policy == "possible") {
        Ok(found) => Some(found.unwrap_or_default()),
        Err(PErr::Undecided) | Err(PErr::Fail) => None,
    }
}

fn clean_phone(spec: &Spec, s: &str, fallback: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, ()> {
    if spec.phone_policy == "e164" {
        return match phone_digits(s)? {
            Some((d, _)) if d.len() <= 15 && !d.starts_with('0') => Ok(Some(format!("+{d}"))),
            _ => Ok(None),
        };
    }
    let phones = PHONES.get().ok_or(())?;
    let found = match phone_decide(phones, s, spec.phone_region.as_deref(), &spec.phone_policy) {
        Some(f) => f,
        None => fallback(s).ok_or(())?, // the Python path (with its cache) decides this one
    };
    Ok(if found.is_empty() { None } else { Some(found) })
}

/// `is_ipv4` as `ipaddress.IPv4Address` reads it (no leading zeros); anything else is left to Python.
fn is_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().map(|n| n <= 255).unwrap_or(false)
        })
}

const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// `normalise._maid` / `_any_maid` on ASCII text (lower-cased); None: invalid.
fn clean_maid(s: &str, any: bool) -> Result<Option<String>, ()> {
    if !s.is_ascii() {
        return Err(());
    }
    let s = s.to_ascii_lowercase();
    if s == ZERO_UUID {
        return Ok(None);
    }
    let b = s.as_bytes();
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        });
    Ok(if any || uuid { Some(s) } else { None })
}

const ATT_STATUSES: [&str; 5] = ["AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"];

fn normalise(spec: &Spec, kind: UKind, raw: &Value, fallback: &dyn Fn(&str) -> Option<String>) -> Norm {
    let numbers = matches!(kind, UKind::Phone | UKind::ExternalId);
    let s = match text_of(raw, numbers)? {
        Some(s) => s,
        None => return Ok(None),
    };
    match kind {
        UKind::Text => Ok(Some((s, PLAIN))),
        UKind::Ip => {
            if is_ipv4(&s) {
                Ok(Some((s, PLAIN)))
            } else {
                Err(())
            }
        }
        UKind::Att => {
            if !s.is_ascii() {
                return Err(());
            }
            let up = s.to_ascii_uppercase();
            if ATT_STATUSES.contains(&up.as_str()) {
                Ok(Some((up, PLAIN)))
            } else {
                Err(())
            }
        }
        _ => {
            if s.len() == 64 && is_hex(&s) {
                return Ok(Some((s.to_ascii_lowercase(), PREHASHED)));
            }
            let clean = match kind {
                UKind::Email => clean_email(&s)?,
                UKind::Phone => clean_phone(spec, &s, fallback)?,
                UKind::Maid { any } => clean_maid(&s, any)?,
                _ => Some(s),
            };
            match clean {
                Some(c) => Ok(Some((sha256_hex(&c), HASHED))),
                None => Err(()),
            }
        }
    }
}

fn push_value_scalar(out: &mut Vec<u8>, raw: &Value) -> Result<(), ()> {
    match raw {
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if n.is_u64() || n.is_i64() {
                out.extend_from_slice(n.to_string().as_bytes());
            } else {
                out.extend_from_slice(json_float(n.as_f64().ok_or(())?).ok_or(())?.as_bytes());
            }
        }
        Value::String(s) => push_json_str(out, s),
        _ => return Err(()),
    }
    Ok(())
}

/// `convert.text`: strings as they are, integers in decimal (floats and containers: Python).
fn push_text(out: &mut Vec<u8>, raw: &Value) -> Result<(), ()> {
    match raw {
        Value::Number(n) if n.is_u64() || n.is_i64() => push_json_str(out, &n.to_string()),
        Value::Number(_) => return Err(()),
        _ => push_value_scalar(out, raw)?,
    }
    Ok(())
}

fn push_prop(out: &mut Vec<u8>, kind: PKind, raw: &Value) -> Result<(), ()> {
    match kind {
        PKind::Text => push_text(out, raw),
        PKind::Number => match raw {
            Value::String(_) => Err(()), // numeric strings: Python's int()/float() rules
            _ => push_value_scalar(out, raw),
        },
        PKind::Currency => match raw {
            Value::String(s) if s.is_ascii() => {
                push_json_str(out, &py_strip(s).to_ascii_uppercase());
                Ok(())
            }
            Value::String(_) => Err(()),
            _ => push_value_scalar(out, raw),
        },
    }
}

/// `compile._event_time` without RFC 3339 strings (those go to Python).
fn event_time(raw: Option<&Value>, ts: f64) -> Result<i64, ()> {
    let fallback = ts.trunc() as i64;
    let raw = match raw {
        Some(Value::Number(n)) => n,
        Some(Value::String(_)) => return Err(()),
        _ => return Ok(fallback),
    };
    let n = raw.as_f64().ok_or(())?;
    if (0.0..1e11).contains(&n) {
        Ok(n.trunc() as i64)
    } else if (1e11..1e14).contains(&n) {
        Ok((n / 1000.0).trunc() as i64)
    } else {
        Ok(fallback)
    }
}

/// `convert.event_id_text`; Ok(None): use the derived event id.
fn event_id_text(raw: Option<&Value>) -> Result<Option<String>, ()> {
    match raw {
        Some(Value::String(s)) => Ok(if py_strip(s).is_empty() { None } else { Some(s.clone()) }),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(Value::Number(_)) => Err(()),
        _ => Ok(None),
    }
}

fn derived_event_id(spec: &Spec, audience: &str, event: &str, ts: f64, user_id: &str) -> String {
    let ms = (ts * 1000.0).round_ties_even() as i64;
    let key = format!("{}|{audience}|{event}|{ms}|{user_id}", spec.job_id);
    let mut h = Blake2bVar::new(16).expect("16 is a valid BLAKE2b size");
    h.update(key.as_bytes());
    let mut digest = [0u8; 16];
    h.finalize_variable(&mut digest).expect("16 bytes");
    hex(&digest)
}

fn user_section(spec: &Spec, doc: &Map<String, Value>, out: &mut Vec<u8>, counts: &mut [u64],
                fallback: &dyn Fn(&str) -> Option<String>) -> Result<(), ()> {
    out.push(b'{');
    let mut first = true;
    for (i, (field, kind, array, path)) in spec.user.iter().enumerate() {
        let raw = path.get(doc).unwrap_or(&Value::Null);
        let mut values: Vec<String> = Vec::new();
        match raw {
            Value::Array(items) if *array => {
                if items.is_empty() {
                    counts[i * 5 + MISSING] += 1;
                }
                for item in items {
                    match normalise(spec, *kind, item, fallback)? {
                        Some((v, o)) => {
                            counts[i * 5 + o] += 1;
                            if !values.contains(&v) {
                                values.push(v);
                            }
                        }
                        None => counts[i * 5 + MISSING] += 1,
                    }
                }
            }
            _ => match normalise(spec, *kind, raw, fallback)? {
                Some((v, o)) => {
                    counts[i * 5 + o] += 1;
                    values.push(v);
                }
                None => counts[i * 5 + MISSING] += 1,
            },
        }
        if values.is_empty() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        push_json_str(out, field);
        out.push(b':');
        if *array {
            out.push(b'[');
            for (j, v) in values.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                push_json_str(out, v);
            }
            out.push(b']');
        } else {
            push_json_str(out, &values[0]);
        }
    }
    out.push(b'}');
    Ok(())
}

fn section(out: &mut Vec<u8>, name: &[u8], entries: &[(&str, PKind, Option<&Value>)]) -> Result<(), ()> {
    let mut opened = false;
    for (key, kind, raw) in entries {
        let raw = match raw {
            Some(v) if !v.is_null() => *v,
            _ => continue,
        };
        out.extend_from_slice(if opened { b"," } else { name });
        opened = true;
        push_json_str(out, key);
        out.push(b':');
        push_prop(out, *kind, raw)?;
    }
    if opened {
        out.push(b'}');
    }
    Ok(())
}

fn event(spec: &Spec, doc: &Map<String, Value>, ts: f64, out: &mut Vec<u8>, counts: &mut [u64],
         fallback: &dyn Fn(&str) -> Option<String>) -> Result<bool, ()> {
    let (audience, event, user_id) = match (doc.get("audience"), doc.get("event"), doc.get("user_id")) {
        (Some(Value::String(a)), Some(Value::String(e)), Some(Value::String(u))) => (a, e, u),
        _ => return Err(()),
    };
    if !spec.events.iter().any(|x| x == event) || !spec.audiences.iter().any(|x| x == audience) {
        return Ok(false);
    }
    let et = match &spec.event_time {
        Some(p) => event_time(p.get(doc), ts)?,
        None => ts.trunc() as i64,
    };
    let eid = match &spec.event_id {
        Some(p) => event_id_text(p.get(doc))?,
        None => None,
    };
    let eid = match eid {
        Some(e) => e,
        None => derived_event_id(spec, audience, event, ts, user_id),
    };
    out.extend_from_slice(b"{\"event\":");
    push_json_str(out, &spec.event_name);
    out.extend_from_slice(b",\"event_time\":");
    out.extend_from_slice(et.to_string().as_bytes());
    out.extend_from_slice(b",\"event_id\":");
    push_json_str(out, &eid);
    out.extend_from_slice(b",\"user\":");
    user_section(spec, doc, out, counts, fallback)?;
    let props: Vec<(&str, PKind, Option<&Value>)> =
        spec.props.iter().map(|(k, kind, p)| (k.as_str(), *kind, p.get(doc))).collect();
    section(out, b",\"properties\":{", &props)?;
    if let Some((name, fixed, entries)) = &spec.section {
        let texts: Vec<(&str, PKind, Option<&Value>)> =
            entries.iter().map(|(k, p)| (k.as_str(), PKind::Text, p.get(doc))).collect();
        let head = format!(",\"{name}\":{{");
        if fixed.is_empty() {
            section(out, head.as_bytes(), &texts)?;
        } else {
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(fixed.as_bytes());
            section(out, b",", &texts)?;
            if texts.iter().all(|(_, _, v)| v.map_or(true, |v| v.is_null())) {
                out.push(b'}');
            }
        }
    }
    if let Some(ldu) = spec.limited_data_use {
        out.extend_from_slice(if ldu { b",\"limited_data_use\":true" } else { b",\"limited_data_use\":false" });
    }
    out.push(b'}');
    Ok(true)
}

/// Map one record value into `out`. `totals` gets this record's outcome counts only when it is mapped here.
pub fn map_record(spec: &Spec, value: &[u8], ts: f64, out: &mut Vec<u8>, totals: &mut [u64],
                  fallback: &dyn Fn(&str) -> Option<String>) -> Mapped {
    let doc: Value = match serde_json::from_slice(value) {
        Ok(v) => v,
        Err(_) => return Mapped::Python,
    };
    let doc = match doc {
        Value::Object(m) => m,
        _ => return Mapped::Python,
    };
    let mut counts = vec![0u64; totals.len()];
    match event(spec, &doc, ts, out, &mut counts, fallback) {
        Ok(true) => {
            for (t, c) in totals.iter_mut().zip(counts) {
                *t += c;
            }
            Mapped::Event
        }
        Ok(false) => Mapped::Unwanted,
        Err(()) => Mapped::Python,
    }
}
