//! Floating-point numbers in cache entries, kept exactly. serde_json writes a finite f64 in its
//! shortest round-trip form but every non-finite one as `null`, so a run whose test error was +inf
//! read back from the cache as NaN, and its CSVs differed from a fresh run's. Here a finite value is
//! written as before (the same JSON, so the same checksums) and a non-finite one as the string
//! `"NaN"`, `"inf"` or `"-inf"`. A `null` (written by versions before this one, NaN or ±inf) is
//! refused, so such an entry is recomputed rather than guessed.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One f64, written and read exactly (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Exact(pub f64);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }
}

struct ExactVisitor;

impl Visitor<'_> for ExactVisitor {
    type Value = Exact;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or one of \"NaN\", \"inf\", \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Exact, E> {
        Ok(Exact(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Exact, E> {
        Ok(Exact(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Exact, E> {
        Ok(Exact(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Exact, E> {
        match v {
            "NaN" => Ok(Exact(f64::NAN)),
            "inf" => Ok(Exact(f64::INFINITY)),
            "-inf" => Ok(Exact(f64::NEG_INFINITY)),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ExactVisitor)
    }
}

/// `#[serde(with = "exact::scalar")]` for an f64 field.
pub mod scalar {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Exact(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Exact::deserialize(d)?.0)
    }
}

/// `#[serde(with = "exact::rows")]` for a `Vec<Vec<f64>>` field.
pub mod rows {
    use super::*;

    struct Row<'a>(&'a [f64]);

    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|&v| Exact(v)))
        }
    }

    pub fn serialize<S: Serializer>(rows: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(rows.iter().map(|row| Row(row)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let rows: Vec<Vec<Exact>> = Deserialize::deserialize(d)?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_iter().map(|v| v.0).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize)]
    struct Entry {
        #[serde(with = "rows")]
        values: Vec<Vec<f64>>,
        #[serde(with = "scalar")]
        x: f64,
    }

    #[test]
    fn every_value_round_trips_bit_for_bit_and_finite_json_is_unchanged() {
        let values = vec![
            vec![1.0, -0.0, 5e-324, f64::MAX, 0.1 + 0.2],
            vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -2.5],
        ];
        let e = Entry {
            values,
            x: f64::INFINITY,
        };
        let json = serde_json::to_string(&e).unwrap();
        let back: Entry = serde_json::from_str(&json).unwrap();
        for (a, b) in e.values.iter().flatten().zip(back.values.iter().flatten()) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{a} → {b}"
            );
        }
        assert_eq!(back.x, f64::INFINITY);
        // Finite values are written exactly as serde_json writes a plain f64.
        let plain =
            serde_json::to_string(&vec![vec![1.0, -0.0, 5e-324, f64::MAX, 0.1 + 0.2]]).unwrap();
        let exact = serde_json::to_string(&Entry {
            values: vec![e.values[0].clone()],
            x: 1.0,
        })
        .unwrap();
        assert!(exact.contains(&plain), "{exact} does not contain {plain}");
    }

    #[test]
    fn null_and_unknown_strings_are_refused() {
        for bad in [
            r#"{"values":[[1.0,null]],"x":1.0}"#,
            r#"{"values":[[1.0]],"x":null}"#,
            r#"{"values":[["Infinity"]],"x":1.0}"#,
        ] {
            assert!(
                serde_json::from_str::<Entry>(bad).is_err(),
                "{bad} was accepted"
            );
        }
        let ok: Entry = serde_json::from_str(r#"{"values":[[1,-2,"NaN"]],"x":"-inf"}"#).unwrap();
        assert_eq!(ok.values[0][..2], [1.0, -2.0]);
        assert!(ok.values[0][2].is_nan() && ok.x == f64::NEG_INFINITY);
    }
}
