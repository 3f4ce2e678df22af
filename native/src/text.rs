//! Text helpers that reproduce Python's and orjson's behaviour exactly where tikstream relies on it.

/// `str.isspace()` of one character (Python 3: bidirectional type WS, B or S, or category Zs).
pub fn py_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str.strip()`
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// A JSON string as orjson writes it: `"` and `\` escaped, control characters as `\b \t \n \f \r` or `\u00xx`
/// (lower-case hex), everything else (DEL, non-ASCII) as UTF-8.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A float as orjson writes it, for the range where it writes plain decimals (1e-5 <= |x| < 1e16, and 0);
/// None elsewhere (the caller leaves such a record to Python).
pub fn json_float(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let a = x.abs();
    if a != 0.0 && !(1e-5..1e16).contains(&a) {
        return None;
    }
    let mut s = format!("{x}"); // shortest round-trip digits, never an exponent
    if !s.contains('.') {
        s.push_str(".0");
    }
    Some(s)
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

pub fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}
