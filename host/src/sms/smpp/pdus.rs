//! SMPP 3.4 PDUs as the host builds and reads them; rusmpp does the wire format.
//!
//! Kept free of I/O so every rule here (concatenation headers, receipt parsing, reply
//! decoding) is unit-tested and fuzzed without a socket.

use rusmpp::pdus::{DeliverSm, SubmitSm};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvTag, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessageState, Npi, RegisteredDelivery, Ton};

use crate::sms::encoding::{self, Encoding};
use crate::sms::gateway::OutgoingSms;
use crate::store::DeliveryStatus;

/// A vendor-specific TLV carrying the host's submission key, so an SMSC that honours it drops
/// a resubmission after a crash instead of sending the citizen a second copy. SMSCs that
/// do not know the tag ignore it (SMPP 3.4 §5.3: unknown optional parameters are skipped).
pub const HOST_MESSAGE_ID_TAG: u16 = 0x1401;

/// `esm_class` with the UDH indicator set.
const UDHI: u8 = 0x40;

/// Where the host's messages come from, as the SMSC account is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub addr: String,
    pub ton: u8,
    pub npi: u8,
}

/// A C-octet string field (SMPP's NUL-terminated ASCII), or why `s` cannot be one.
pub(super) fn c_string<const MIN: usize, const MAX: usize>(
    field: &str,
    s: &str,
) -> Result<COctetString<MIN, MAX>, String> {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    COctetString::from_slice(&bytes).map_err(|e| format!("`{field}` does not fit SMPP: {e}"))
}

/// One `submit_sm` per part: a single part as is, a longer text with an 8-bit-reference
/// concatenation header (IEI 0x00) in each part, so any handset reassembles it.
pub fn submit_pdus(sms: &OutgoingSms<'_>, source: &Source) -> Result<Vec<SubmitSm>, String> {
    let encoded = encoding::encode(sms.text);
    let total = encoded.parts.len();
    if total > usize::from(u8::MAX) {
        return Err(format!("{total} parts is more than a concatenation header can number"));
    }
    // The reference only has to differ between one recipient's recent long messages.
    let reference = (sms.message_id & 0xFF) as u8;
    let destination = sms.phone.trim_start_matches('+');
    let data_coding = DataCoding::from(encoded.encoding.data_coding());
    let host_id = AnyOctetString::from_slice(sms.key.as_bytes());
    encoded
        .parts
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let (esm_class, body) = if total == 1 {
                (0u8, payload.clone())
            } else {
                let mut body = vec![0x05, 0x00, 0x03, reference, total as u8, (i + 1) as u8];
                body.extend_from_slice(payload);
                (UDHI, body)
            };
            let mut pdu = SubmitSm::builder()
                .source_addr_ton(Ton::from(source.ton))
                .source_addr_npi(Npi::from(source.npi))
                .source_addr(c_string("source_addr", &source.addr)?)
                .dest_addr_ton(Ton::International)
                .dest_addr_npi(Npi::Isdn)
                .destination_addr(c_string("destination_addr", destination)?)
                .esm_class(EsmClass::from(esm_class))
                // Receipts for success and failure: the outbox records what became of it.
                .registered_delivery(RegisteredDelivery::from(0x01))
                .data_coding(data_coding)
                .short_message(OctetString::from_slice(&body).map_err(|e| format!("a part does not fit SMPP: {e}"))?)
                .build();
            pdu.push_tlv(MessageSubmissionRequestTlvValue::Other {
                tag: TlvTag::Other(HOST_MESSAGE_ID_TAG),
                value: host_id.clone(),
            });
            Ok(pdu)
        })
        .collect()
}

/// What a `deliver_sm` brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A citizen's SMS.
    Reply { from: String, text: String },
    /// Part `seq` of `total` of a citizen's long SMS; the session joins the parts that
    /// share `from` and `reference` into one [`Incoming::Reply`].
    ReplyPart { from: String, reference: u16, total: u8, seq: u8, text: String },
    /// What became of a submitted part. `ids` are the ways the SMSC may have written the id
    /// it gave in `submit_sm_resp`, most likely first; `status` is `None` for a receipt that
    /// is not final (en route, accepted).
    Receipt { ids: Vec<String>, status: Option<DeliveryStatus> },
}

/// Reads a `deliver_sm`: a delivery receipt if `esm_class` says so, otherwise a reply.
pub fn read_deliver(sm: &DeliverSm) -> Result<Incoming, String> {
    let esm = u8::from(sm.esm_class);
    let body: &[u8] = sm.short_message();
    let tlv = |tag: TlvTag| sm.tlvs().iter().find(|t| t.tag() == tag).and_then(|t| t.value());
    // Message type bits 5-2: 0001 is an SMSC delivery receipt, 1000 an intermediate notice.
    let message_type = esm & 0x3C;
    if message_type == 0x04 || message_type == 0x20 {
        let text = String::from_utf8_lossy(body);
        let id = match tlv(TlvTag::ReceiptedMessageId) {
            Some(TlvValue::ReceiptedMessageId(id)) => id.as_str().to_owned(),
            _ => receipt_field(&text, "id").ok_or("the receipt names no message id")?.to_owned(),
        };
        let status = match tlv(TlvTag::MessageState) {
            Some(TlvValue::MessageState(state)) => status_of_state(*state),
            _ => status_of_stat(receipt_field(&text, "stat").ok_or("the receipt has no `stat`")?),
        };
        let status = if message_type == 0x20 { None } else { status };
        return Ok(Incoming::Receipt { ids: id_candidates(&id), status });
    }
    let mut payload: Vec<u8> = body.to_vec();
    if payload.is_empty()
        && let Some(TlvValue::MessagePayload(p)) = tlv(TlvTag::MessagePayload)
    {
        payload = p.value.to_vec();
    }
    let mut concatenated = None;
    if esm & UDHI != 0 && !payload.is_empty() {
        let header = usize::from(payload[0]) + 1;
        let udh = payload.get(1..header).ok_or("the reply's header is longer than the reply")?;
        concatenated = concatenation(udh);
        payload = payload[header..].to_vec();
    }
    let text = decode(u8::from(sm.data_coding), &payload);
    let addr = sm.source_addr.as_str();
    if addr.is_empty() {
        return Err("the reply has no sender".into());
    }
    let from = if u8::from(sm.source_addr_ton) == 1 { format!("+{addr}") } else { addr.to_owned() };
    Ok(match concatenated {
        Some(Concatenation { reference, total, seq }) if total > 1 => {
            Incoming::ReplyPart { from, reference, total, seq, text }
        }
        _ => Incoming::Reply { from, text },
    })
}

/// A part's place in a concatenated message, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Concatenation {
    reference: u16,
    total: u8,
    seq: u8,
}

/// The concatenation element (IEI 0x00, 8-bit reference, or 0x08, 16-bit) of a user data
/// header, if it has a sound one.
fn concatenation(mut udh: &[u8]) -> Option<Concatenation> {
    while let [iei, len, rest @ ..] = udh {
        let (data, next) = rest.split_at_checked(usize::from(*len))?;
        let found = match (iei, data) {
            (0x00, [r, total, seq]) => Some(Concatenation { reference: u16::from(*r), total: *total, seq: *seq }),
            (0x08, [a, b, total, seq]) => {
                Some(Concatenation { reference: u16::from_be_bytes([*a, *b]), total: *total, seq: *seq })
            }
            _ => None,
        };
        if let Some(c) = found.filter(|c| c.seq >= 1 && c.seq <= c.total) {
            return Some(c);
        }
        udh = next;
    }
    None
}

/// A citizen's text in whatever `data_coding` their operator chose.
fn decode(data_coding: u8, bytes: &[u8]) -> String {
    match data_coding {
        0x08 => {
            let units: Vec<u16> = bytes.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        // Latin-1 maps byte for byte onto the first 256 code points.
        0x03 => bytes.iter().map(|&b| char::from(b)).collect(),
        0x01 => String::from_utf8_lossy(bytes).into_owned(),
        _ => encoding::decode_gsm7(bytes),
    }
}

/// A `key:value` field of the SMPP 3.4 Appendix B receipt text (`id:… stat:DELIVRD …`).
fn receipt_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&format!("{key}:")) {
        let start = from + at;
        // A whole field name: `id:` must not match inside `msgid:`.
        if start == 0 || !lower.as_bytes()[start - 1].is_ascii_alphanumeric() {
            let value = &text[start + key.len() + 1..];
            return Some(value.split_whitespace().next().unwrap_or(""));
        }
        from = start + 1;
    }
    None
}

fn status_of_stat(stat: &str) -> Option<DeliveryStatus> {
    match stat.to_ascii_uppercase().as_str() {
        "DELIVRD" => Some(DeliveryStatus::Delivered),
        "EXPIRED" => Some(DeliveryStatus::Expired),
        "DELETED" => Some(DeliveryStatus::Deleted),
        "UNDELIV" => Some(DeliveryStatus::Undeliverable),
        "REJECTD" => Some(DeliveryStatus::Rejected),
        _ => None,
    }
}

fn status_of_state(state: MessageState) -> Option<DeliveryStatus> {
    match u8::from(state) {
        2 => Some(DeliveryStatus::Delivered),
        3 => Some(DeliveryStatus::Expired),
        4 => Some(DeliveryStatus::Deleted),
        5 => Some(DeliveryStatus::Undeliverable),
        8 => Some(DeliveryStatus::Rejected),
        _ => None,
    }
}

/// SMSCs give the id in `submit_sm_resp` one way and often write it in the receipt text
/// another: hex against decimal, zero-padded or not, either case. These are the readings
/// of a receipt's id, the literal one first.
pub fn id_candidates(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    let mut out = vec![raw.to_owned()];
    let trimmed = raw.trim_start_matches('0');
    let trimmed = if trimmed.is_empty() && !raw.is_empty() { "0" } else { trimmed };
    out.push(trimmed.to_owned());
    out.push(trimmed.to_ascii_lowercase());
    out.push(trimmed.to_ascii_uppercase());
    if !trimmed.is_empty() && trimmed.len() <= 20 {
        if trimmed.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = trimmed.parse::<u64>()
        {
            out.push(format!("{n:x}"));
            out.push(format!("{n:X}"));
        }
        if trimmed.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(n) = u64::from_str_radix(trimmed, 16)
        {
            out.push(n.to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|id| !id.is_empty() && seen.insert(id.clone()));
    out
}

/// The encoding a `submit_sm` says it uses.
pub fn encoding_of(pdu: &SubmitSm) -> Encoding {
    if u8::from(pdu.data_coding) == 0x08 { Encoding::Ucs2 } else { Encoding::Gsm7 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms<'a>(id: i64, text: &'a str) -> OutgoingSms<'a> {
        OutgoingSms::standalone(id, "1-abc", "+77011234567", text)
    }

    fn source() -> Source {
        Source { addr: "1414".into(), ton: 0, npi: 1 }
    }

    #[test]
    fn a_long_kazakh_text_is_three_ucs2_parts_with_one_reference() {
        let text = "Құрметті азамат! ".repeat(10);
        let pdus = submit_pdus(&sms(300, &text), &source()).unwrap();
        assert_eq!(pdus.len(), 3);
        for (i, p) in pdus.iter().enumerate() {
            assert_eq!(encoding_of(p), Encoding::Ucs2);
            assert_eq!(u8::from(p.esm_class) & UDHI, UDHI);
            let body: &[u8] = p.short_message();
            assert_eq!(&body[..6], &[0x05, 0x00, 0x03, (300 & 0xFF) as u8, 3, (i + 1) as u8]);
            assert!(body.len() <= 140);
            assert_eq!(p.destination_addr.as_str(), "77011234567");
            assert!(p.tlvs().iter().any(|t| t.tag() == TlvTag::Other(HOST_MESSAGE_ID_TAG)));
        }
    }

    #[test]
    fn a_short_text_has_no_header() {
        let pdus = submit_pdus(&sms(1, "Hello {x}"), &source()).unwrap();
        assert_eq!(pdus.len(), 1);
        assert_eq!(u8::from(pdus[0].esm_class), 0);
        let body: &[u8] = pdus[0].short_message();
        assert_eq!(body, b"Hello \x1b\x28x\x1b\x29");
    }

    #[test]
    fn concatenation_headers_are_read_with_either_reference_size() {
        assert_eq!(
            concatenation(&[0x00, 0x03, 0x2A, 0x02, 0x01]),
            Some(Concatenation { reference: 42, total: 2, seq: 1 })
        );
        assert_eq!(
            concatenation(&[0x08, 0x04, 0x01, 0x02, 0x03, 0x03]),
            Some(Concatenation { reference: 0x0102, total: 3, seq: 3 })
        );
        // Another element first, then the concatenation one.
        assert_eq!(concatenation(&[0x24, 0x01, 0x00, 0x00, 0x03, 0x07, 0x02, 0x02]).map(|c| c.reference), Some(7));
        // Cut short, or a part number out of range: no concatenation.
        assert_eq!(concatenation(&[0x00, 0x03, 0x2A]), None);
        assert_eq!(concatenation(&[0x00, 0x03, 0x2A, 0x02, 0x03]), None);
        assert_eq!(concatenation(&[]), None);
    }

    #[test]
    fn receipt_fields_are_read_whole() {
        let text =
            "id:0000004097 sub:001 dlvrd:001 submit date:2612041000 done date:2612041001 stat:DELIVRD err:000 text:";
        assert_eq!(receipt_field(text, "id"), Some("0000004097"));
        assert_eq!(receipt_field(text, "stat").and_then(status_of_stat), Some(DeliveryStatus::Delivered));
        assert_eq!(receipt_field("msgid:5 id:7", "id"), Some("7"));
        assert_eq!(receipt_field("stat:UNDELIV", "stat").and_then(status_of_stat), Some(DeliveryStatus::Undeliverable));
        assert_eq!(receipt_field("nothing here", "id"), None);
    }

    #[test]
    fn receipt_ids_are_tried_as_hex_and_decimal() {
        // 4097 = 0x1001.
        let c = id_candidates("0000004097");
        assert_eq!(c[0], "0000004097");
        assert!(c.contains(&"1001".to_owned()), "{c:?}");
        assert!(id_candidates("1001").contains(&"4097".to_owned()));
        assert!(id_candidates("00AB").contains(&"ab".to_owned()));
        assert!(id_candidates("ab").contains(&"171".to_owned()));
        assert_eq!(id_candidates("0"), vec!["0".to_owned()]);
        assert!(id_candidates("").is_empty());
    }
}
