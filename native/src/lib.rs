//! tikstream's native events transform core (see `tikstream/mapping/native.py`, its only caller).
//!
//! `Mapper(spec, phone_fallback).map_batch(values, ts)` takes the raw record values of one batch and gives, per
//! record, the event's JSON bytes (as `orjson.dumps` of the Python mapper's dict would be), `None` (the job
//! does not want the trigger) or `False` (not decided here: the caller maps that record in Python). A record
//! goes back to Python when any of its values is invalid (Python tells the drop reason) or is of a shape this
//! core does not handle (see `mapper.rs`). Phones this core cannot decide are asked of `phone_fallback`.

mod mapper;
mod phone;
mod text;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use std::collections::HashMap;

use mapper::{Mapped, Spec};
use phone::{Desc, Meta, Pat, PhoneData, PHONES};

fn opt_pat(obj: &Bound<PyAny>) -> PyResult<Option<Pat>> {
    if obj.is_none() {
        return Ok(None);
    }
    Ok(Some(Pat::new(obj.extract::<String>()?)))
}

fn desc(obj: &Bound<PyAny>) -> PyResult<Option<Desc>> {
    if obj.is_none() {
        return Ok(None);
    }
    let t = obj.downcast::<PyTuple>()?;
    Ok(Some(Desc {
        pattern: opt_pat(&t.get_item(0)?)?,
        lengths: t.get_item(1)?.extract()?,
        local: t.get_item(2)?.extract()?,
    }))
}

fn meta(obj: &Bound<PyAny>) -> PyResult<Meta> {
    let t = obj.downcast::<PyTuple>()?;
    let transform: Option<String> = t.get_item(3)?.extract()?;
    let mut types = Vec::new();
    for d in t.get_item(7)?.downcast::<PyList>()?.iter() {
        types.push(desc(&d)?);
    }
    Ok(Meta {
        cc: t.get_item(0)?.extract()?,
        idd: opt_pat(&t.get_item(1)?)?,
        npp: opt_pat(&t.get_item(2)?)?,
        transform,
        leading: opt_pat(&t.get_item(4)?)?,
        same_mobile_fixed: t.get_item(5)?.extract()?,
        general: desc(&t.get_item(6)?)?,
        types,
        fixed: desc(&t.get_item(8)?)?,
        mobile: desc(&t.get_item(9)?)?,
    })
}

/// Hand over the `phonenumbers` metadata, once per process (later calls are ignored). Returns whether this
/// call loaded it.
#[pyfunction]
fn load_phones(cc_regions: HashMap<u32, Vec<String>>, regions: &Bound<PyDict>, nongeo: &Bound<PyDict>) -> PyResult<bool> {
    if PHONES.get().is_some() {
        return Ok(false);
    }
    let mut by_region = HashMap::new();
    for (k, v) in regions.iter() {
        by_region.insert(k.extract::<String>()?, meta(&v)?);
    }
    let mut by_cc = HashMap::new();
    for (k, v) in nongeo.iter() {
        by_cc.insert(k.extract::<u32>()?, meta(&v)?);
    }
    Ok(PHONES.set(PhoneData { cc_regions, regions: by_region, nongeo: by_cc }).is_ok())
}

/// The `+E.164` of a phone as written (trimmed text) under `policy` ("valid" or "possible"): the number,
/// "" when it is dropped, None when this core cannot decide (the Python path must).
#[pyfunction]
#[pyo3(signature = (text, region, policy))]
fn phone_e164(text: &str, region: Option<&str>, policy: &str) -> PyResult<Option<String>> {
    let phones = PHONES.get().ok_or_else(|| PyValueError::new_err("load_phones was not called"))?;
    Ok(mapper::phone_decide(phones, text, region, policy))
}

#[pyclass(module = "tikstream_native")]
struct Mapper {
    spec: Spec,
    phone_fallback: PyObject,
}

#[pymethods]
impl Mapper {
    #[new]
    fn new(spec: &Bound<PyDict>, phone_fallback: PyObject) -> PyResult<Self> {
        let spec = Spec::from_py(spec)?;
        if spec.has_phone && spec.phone_policy != "e164" && PHONES.get().is_none() {
            return Err(PyValueError::new_err("load_phones must be called before a mapper with phones"));
        }
        Ok(Mapper { spec, phone_fallback })
    }

    /// Map one batch: `values` (a list of bytes) with the decoded trigger time of each (`ts`, epoch seconds).
    /// Returns (a list of bytes | None | False, outcome counts per field: `n_fields * 5` integers in the
    /// order hashed, prehashed, plain, invalid, missing, of the records mapped here).
    fn map_batch<'py>(&self, py: Python<'py>, values: &Bound<'py, PyList>, ts: Vec<f64>)
                      -> PyResult<(Bound<'py, PyList>, Vec<u64>)> {
        if values.len() != ts.len() {
            return Err(PyValueError::new_err("values and ts differ in length"));
        }
        let out = PyList::empty_bound(py);
        let mut totals = vec![0u64; self.spec.user.len() * 5];
        let mut buf = Vec::with_capacity(1024);
        let fallback = |s: &str| -> Option<String> {
            self.phone_fallback.call1(py, (s,)).and_then(|r| r.extract::<String>(py)).ok()
        };
        for (value, t) in values.iter().zip(ts) {
            let bytes = match value.downcast::<PyBytes>() {
                Ok(b) => b,
                Err(_) => {
                    out.append(false)?; // not bytes (a trigger built without its record value): Python maps it
                    continue;
                }
            };
            buf.clear();
            match mapper::map_record(&self.spec, bytes.as_bytes(), t, &mut buf, &mut totals, &fallback) {
                Mapped::Event => out.append(PyBytes::new_bound(py, &buf))?,
                Mapped::Unwanted => out.append(py.None())?,
                Mapped::Python => out.append(false)?,
            }
        }
        Ok((out, totals))
    }
}

#[pymodule]
fn tikstream_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mapper>()?;
    m.add_function(wrap_pyfunction!(load_phones, m)?)?;
    m.add_function(wrap_pyfunction!(phone_e164, m)?)?;
    Ok(())
}
