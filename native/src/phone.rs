//! Phones to `+E.164`, decided exactly as tikstream's Python path decides them with the `phonenumbers` package.
//!
//! The metadata (patterns, lengths, prefixes) is not compiled in: it is handed over, once per process, from the
//! installed `phonenumbers` package (`tikstream/mapping/native.py`), so both paths read the same data. The code
//! below is a line-by-line port of the parts of `phonenumberutil.parse`, `is_valid_number` and
//! `is_possible_number_with_reason` that a phone reduced to its ASCII digits (tikstream's `_digits`) reaches.
//! Whatever it cannot decide exactly (fewer than three digits, a pattern the `regex` crate will not compile,
//! metadata missing) is `Undecided`: the caller asks the Python path for that value.

use regex::{Captures, Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug)]
pub enum PErr {
    /// `NumberParseException`: this reading gives no number.
    Fail,
    /// Not decided here: ask the Python path.
    Undecided,
}

type R<T> = Result<T, PErr>;

pub struct Pat {
    src: String,
    full: OnceLock<Option<Regex>>,
    prefix: OnceLock<Option<Regex>>,
}

fn build(src: String) -> Option<Regex> {
    RegexBuilder::new(&src).size_limit(64 << 20).build().ok()
}

impl Pat {
    pub fn new(src: String) -> Self {
        Pat { src, full: OnceLock::new(), prefix: OnceLock::new() }
    }
    /// `fullmatch` (Python `re`): the whole text.
    fn full(&self) -> R<&Regex> {
        self.full.get_or_init(|| build(format!("^(?:{})$", self.src))).as_ref().ok_or(PErr::Undecided)
    }
    /// `match` (Python `re`): anchored at the start.
    fn prefix(&self) -> R<&Regex> {
        self.prefix.get_or_init(|| build(format!("^(?:{})", self.src))).as_ref().ok_or(PErr::Undecided)
    }
}

pub struct Desc {
    pub pattern: Option<Pat>,
    pub lengths: Vec<i64>,
    pub local: Vec<i64>,
}

pub struct Meta {
    pub cc: u32,
    pub idd: Option<Pat>,
    pub npp: Option<Pat>,
    pub transform: Option<String>,
    pub leading: Option<Pat>,
    pub same_mobile_fixed: bool,
    pub general: Option<Desc>,
    /// premium_rate, toll_free, shared_cost, voip, personal_number, pager, uan, voicemail: in that order.
    pub types: Vec<Option<Desc>>,
    pub fixed: Option<Desc>,
    pub mobile: Option<Desc>,
}

pub struct PhoneData {
    pub cc_regions: HashMap<u32, Vec<String>>,
    pub regions: HashMap<String, Meta>,
    pub nongeo: HashMap<u32, Meta>,
}

#[derive(PartialEq, Eq, Debug, Clone, Copy)]
enum Vr {
    Possible,
    LocalOnly,
    TooShort,
    TooLong,
    InvalidLength,
}

const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;

impl PhoneData {
    fn for_region_or_cc(&self, cc: u32, region: &str) -> Option<&Meta> {
        if region == "001" {
            self.nongeo.get(&cc)
        } else {
            self.regions.get(region)
        }
    }

    fn main_region(&self, cc: u32) -> &str {
        self.cc_regions.get(&cc).and_then(|r| r.first()).map(|s| s.as_str()).unwrap_or("ZZ")
    }

    /// `_extract_country_code`
    fn extract_cc<'a>(&self, number: &'a str) -> (u32, &'a str) {
        if number.is_empty() || number.starts_with('0') {
            return (0, number);
        }
        for i in 1..=number.len().min(3) {
            if let Ok(cc) = number[..i].parse::<u32>() {
                if self.cc_regions.contains_key(&cc) {
                    return (cc, &number[i..]);
                }
            }
        }
        (0, number)
    }

    /// `_maybe_extract_country_code` for a text of ASCII digits, with or without a leading `+`.
    fn maybe_extract_cc(&self, text: &str, meta: Option<&Meta>) -> R<(u32, String)> {
        if text.is_empty() {
            return Ok((0, String::new()));
        }
        let (from_default, full): (bool, &str) = if let Some(rest) = text.strip_prefix('+') {
            (false, rest)
        } else {
            match meta.and_then(|m| m.idd.as_ref()) {
                Some(idd) => match idd.prefix()?.find(text) {
                    Some(m) => {
                        let after = &text[m.end()..];
                        if after.starts_with('0') {
                            (true, text)
                        } else {
                            (false, after)
                        }
                    }
                    None => (true, text),
                },
                None => (true, text), // "NonMatch": no IDD
            }
        };
        if !from_default {
            if full.len() <= MIN_NSN {
                return Err(PErr::Fail);
            }
            let (cc, rest) = self.extract_cc(full);
            return if cc != 0 { Ok((cc, rest.to_string())) } else { Err(PErr::Fail) };
        }
        if let Some(meta) = meta {
            let ccs = meta.cc.to_string();
            if let Some(potential) = full.strip_prefix(ccs.as_str()) {
                let potential = strip_national_prefix(potential, meta)?;
                let general = meta.general.as_ref();
                if (!match_national(full, general)? && match_national(&potential, general)?)
                    || test_length(full, meta)? == Vr::TooLong
                {
                    return Ok((meta.cc, potential));
                }
            }
        }
        Ok((0, String::new()))
    }

    /// `phonenumbers.parse(text, region)` for ASCII digits with an optional leading `+`: (country code,
    /// national significant number).
    fn parse(&self, text: &str, region: Option<&str>) -> R<(u32, String)> {
        let digits = text.strip_prefix('+').unwrap_or(text);
        if digits.len() < 3 || digits.len() > 240 {
            return Err(PErr::Undecided); // viability of one- and two-digit texts: left to Python
        }
        let mut meta = match region {
            Some(r) => Some(self.regions.get(r).ok_or(PErr::Undecided)?),
            None => None,
        };
        let (mut cc, mut nn) = self.maybe_extract_cc(text, meta)?;
        if cc != 0 {
            let number_region = self.main_region(cc);
            if Some(number_region) != region {
                meta = Some(self.for_region_or_cc(cc, number_region).ok_or(PErr::Undecided)?);
            }
        } else {
            nn = digits.to_string();
            match meta {
                Some(m) => cc = m.cc,
                None => return Err(PErr::Undecided),
            }
        }
        if nn.len() < MIN_NSN {
            return Err(PErr::Fail);
        }
        if let Some(m) = meta {
            let potential = strip_national_prefix(&nn, m)?;
            let vr = test_length(&potential, m)?;
            if !matches!(vr, Vr::TooShort | Vr::LocalOnly | Vr::InvalidLength) {
                nn = potential;
            }
        }
        if nn.len() > MAX_NSN || nn.len() < MIN_NSN {
            return Err(PErr::Fail);
        }
        Ok((cc, nn))
    }

    /// `is_valid_number`
    fn is_valid(&self, cc: u32, nsn: &str) -> R<bool> {
        let regions = match self.cc_regions.get(&cc) {
            Some(r) => r,
            None => return Ok(false),
        };
        let region: Option<&str> = if regions.len() == 1 {
            Some(&regions[0])
        } else {
            let mut found = None;
            for r in regions {
                let meta = match self.regions.get(r.as_str()) {
                    Some(m) => m,
                    None => continue,
                };
                if let Some(leading) = &meta.leading {
                    if leading.prefix()?.is_match(nsn) {
                        found = Some(r.as_str());
                        break;
                    }
                } else if type_valid(nsn, meta)? {
                    found = Some(r.as_str());
                    break;
                }
            }
            found
        };
        let region = match region {
            Some(r) => r,
            None => return Ok(false),
        };
        let meta = match self.for_region_or_cc(cc, region) {
            Some(m) => m,
            None => return Ok(false),
        };
        if region != "001" {
            match self.regions.get(region) {
                Some(m) if m.cc == cc => {}
                _ => return Ok(false),
            }
        }
        type_valid(nsn, meta)
    }

    /// `is_possible_number_with_reason(...) == IS_POSSIBLE`
    fn is_possible(&self, cc: u32, nsn: &str) -> R<bool> {
        if !self.cc_regions.contains_key(&cc) {
            return Ok(false);
        }
        let meta = self.for_region_or_cc(cc, self.main_region(cc)).ok_or(PErr::Undecided)?;
        Ok(test_length(nsn, meta)? == Vr::Possible)
    }

    fn readings(&self, digits: &str, plus: bool, region: Option<&str>) -> Vec<(String, bool)> {
        // (text, with the region): see tikstream.mapping.phones._readings
        if plus {
            return vec![(format!("+{digits}"), false)];
        }
        let mut out = Vec::with_capacity(2);
        if region.is_some() {
            out.push((digits.to_string(), true));
        }
        let d = digits.strip_prefix("00").unwrap_or(digits);
        if !d.starts_with('0') {
            out.push((format!("+{d}"), false));
        }
        out
    }

    fn first(&self, readings: &[(String, bool)], region: Option<&str>, possible: bool) -> R<Option<String>> {
        for (text, with_region) in readings {
            match self.parse(text, if *with_region { region } else { None }) {
                Ok((cc, nsn)) => {
                    let ok = if possible { self.is_possible(cc, &nsn)? } else { self.is_valid(cc, &nsn)? };
                    if ok {
                        return Ok(Some(format!("+{cc}{nsn}")));
                    }
                }
                Err(PErr::Fail) => {}
                Err(PErr::Undecided) => return Err(PErr::Undecided),
            }
        }
        Ok(None)
    }

    /// `_e164` / `_e164_possible`: `+E.164` or None (dropped).
    pub fn e164(&self, digits: &str, plus: bool, region: Option<&str>, possible: bool) -> R<Option<String>> {
        let readings = self.readings(digits, plus, region);
        if let Some(found) = self.first(&readings, region, false)? {
            return Ok(Some(found));
        }
        if possible {
            return self.first(&readings, region, true);
        }
        Ok(None)
    }
}

/// `_match_national_number(number, desc, False)`
fn match_national(number: &str, desc: Option<&Desc>) -> R<bool> {
    match desc.and_then(|d| d.pattern.as_ref()) {
        Some(p) if !p.src.is_empty() => Ok(p.full()?.is_match(number)),
        _ => Ok(false),
    }
}

/// `_is_number_matching_desc`
fn matching_desc(number: &str, desc: Option<&Desc>) -> R<bool> {
    let d = match desc {
        Some(d) => d,
        None => return Ok(false),
    };
    if !d.lengths.is_empty() && !d.lengths.contains(&(number.len() as i64)) {
        return Ok(false);
    }
    match_national(number, Some(d))
}

/// `_number_type_helper(...) != UNKNOWN`
fn type_valid(nsn: &str, meta: &Meta) -> R<bool> {
    if !matching_desc(nsn, meta.general.as_ref())? {
        return Ok(false);
    }
    for d in &meta.types {
        if matching_desc(nsn, d.as_ref())? {
            return Ok(true);
        }
    }
    if matching_desc(nsn, meta.fixed.as_ref())? {
        return Ok(true);
    }
    Ok(!meta.same_mobile_fixed && matching_desc(nsn, meta.mobile.as_ref())?)
}

/// `_test_number_length(number, metadata)` (type UNKNOWN: the general description)
fn test_length(number: &str, meta: &Meta) -> R<Vr> {
    let general = meta.general.as_ref().ok_or(PErr::Undecided)?;
    let possible = &general.lengths;
    if possible.is_empty() {
        return Err(PErr::Undecided);
    }
    let n = number.len() as i64;
    if general.local.contains(&n) {
        return Ok(Vr::LocalOnly);
    }
    let min = possible[0];
    if min == n {
        return Ok(Vr::Possible);
    }
    if min > n {
        return Ok(Vr::TooShort);
    }
    if possible[possible.len() - 1] < n {
        return Ok(Vr::TooLong);
    }
    Ok(if possible[1..].contains(&n) { Vr::Possible } else { Vr::InvalidLength })
}

/// Python's `re.sub` template for the transform rules in the metadata (`\1`, `8\1`): literal text and `\N`.
fn expand(rule: &str, caps: &Captures) -> R<String> {
    let mut out = String::new();
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let d = chars.next().and_then(|d| d.to_digit(10)).ok_or(PErr::Undecided)?;
            if d as usize >= caps.len() {
                return Err(PErr::Undecided);
            }
            if let Some(m) = caps.get(d as usize) {
                out.push_str(m.as_str());
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `_maybe_strip_national_prefix_carrier_code` (the number only; the carrier code is not needed).
fn strip_national_prefix(number: &str, meta: &Meta) -> R<String> {
    let npp = match &meta.npp {
        Some(p) if !number.is_empty() && !p.src.is_empty() => p,
        _ => return Ok(number.to_string()),
    };
    let re = npp.prefix()?;
    let caps = match re.captures(number) {
        Some(c) => c,
        None => return Ok(number.to_string()),
    };
    let general = meta.general.as_ref();
    let viable = match_national(number, general)?;
    let groups = caps.len() - 1;
    let end = caps.get(0).map(|m| m.end()).unwrap_or(0);
    let rule = meta.transform.as_deref().unwrap_or("");
    if !rule.is_empty() && groups == 0 {
        return Err(PErr::Undecided); // Python would raise IndexError
    }
    if rule.is_empty() || caps.get(groups).is_none() {
        let rest = &number[end..];
        if viable && !match_national(rest, general)? {
            return Ok(number.to_string());
        }
        return Ok(rest.to_string());
    }
    let transformed = expand(rule, &caps)? + &number[end..];
    if viable && !match_national(&transformed, general)? {
        return Ok(number.to_string());
    }
    Ok(transformed)
}

pub static PHONES: OnceLock<PhoneData> = OnceLock::new();
