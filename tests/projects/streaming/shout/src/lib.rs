//! Upper-cases ASCII letters in place.

pub fn shout(bytes: &mut [u8]) {
    bytes.make_ascii_uppercase();
}
