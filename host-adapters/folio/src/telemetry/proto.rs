//! The few protobuf encodings OTLP needs, written by hand: varints,
//! fixed64, length-delimited bytes and nested messages (the field numbers
//! are opentelemetry-proto's, named where they are used).

pub struct Writer {
    buf: Vec<u8>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;

impl Writer {
    pub fn new() -> Writer {
        Writer { buf: Vec::new() }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    pub fn uint(&mut self, field: u32, v: u64) {
        self.key(field, VARINT);
        self.varint(v);
    }

    /// `int64` (two's complement as a varint, as protobuf does).
    pub fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    pub fn boolean(&mut self, field: u32, v: bool) {
        self.uint(field, u64::from(v));
    }

    pub fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn double(&mut self, field: u32, v: f64) {
        self.fixed64(field, v.to_bits());
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, LENGTH_DELIMITED);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    pub fn string(&mut self, field: u32, v: &str) {
        self.bytes(field, v.as_bytes());
    }

    pub fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::new();
        write(&mut inner);
        self.bytes(field, &inner.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_protobuf_does() {
        let mut w = Writer::new();
        w.uint(1, 150);
        w.string(2, "hi");
        w.message(3, |m| m.boolean(1, true));
        w.int(4, -1);
        assert_eq!(
            w.finish(),
            [
                0x08, 0x96, 0x01, // 1: 150
                0x12, 2, b'h', b'i', // 2: "hi"
                0x1a, 2, 0x08, 1, // 3: {1: true}
                0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // 4: -1
            ]
        );
    }
}
