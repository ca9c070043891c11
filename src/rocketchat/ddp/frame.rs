//! DDP frames: encoding what the client sends, and one-pass decoding of what
//! it receives into a struct that borrows its strings from the frame text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// The handshake every official client sends.
pub const CONNECT: &str = r#"{"msg":"connect","version":"1","support":["1","pre2","pre1"]}"#;
/// A client heartbeat.
pub const PING: &str = r#"{"msg":"ping"}"#;

/// A string borrowed from the frame text when it has no escapes, owned
/// otherwise (`Option<Cow<str>>` alone never borrows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl Str<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any frame the server sends; fields absent in a frame kind stay `None`.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    #[serde(borrow, default)]
    pub msg: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub collection: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub fields: Option<Fields<'a>>,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(borrow, default)]
    pub subs: Vec<Str<'a>>,
    #[serde(borrow, default)]
    pub reason: Option<Str<'a>>,
    #[serde(default, rename = "offendingMessage")]
    pub offending_message: Option<Value>,
}

/// `fields` of `added`/`changed`: stream events carry `eventName` + `args`,
/// the `users` document carries `username`; everything else is skipped.
#[derive(Debug, Deserialize)]
pub struct Fields<'a> {
    #[serde(borrow, default, rename = "eventName")]
    pub event_name: Option<Str<'a>>,
    #[serde(default)]
    pub args: Vec<Value>,
    #[serde(borrow, default)]
    pub username: Option<Str<'a>>,
}

impl<'a> Incoming<'a> {
    /// Parses one text frame.
    pub fn parse(text: &'a str) -> serde_json::Result<Incoming<'a>> {
        serde_json::from_str(text)
    }

    pub fn msg(&self) -> &str {
        self.msg.as_ref().map_or("", Str::as_str)
    }
}

/// A numeric call id written as the JSON string DDP requires, without an
/// intermediate allocation.
#[derive(Clone, Copy)]
struct Id(u32);

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct MethodFrame<'a> {
    msg: &'static str,
    id: Id,
    method: &'a str,
    params: &'a [Value],
}

#[derive(Serialize)]
struct SubFrame<'a> {
    msg: &'static str,
    id: Id,
    name: &'a str,
    params: &'a [Value],
}

#[derive(Serialize)]
struct IdFrame<'a> {
    msg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

fn to_string<T: Serialize>(frame: &T) -> String {
    // Serializing these structs (strings and `Value`s) into a String cannot
    // fail: no maps with non-string keys, no I/O.
    serde_json::to_string(frame).unwrap_or_default()
}

/// `{"msg":"method","id":"<id>","method":..,"params":[..]}`
pub fn encode_method(id: u32, method: &str, params: &[Value]) -> String {
    to_string(&MethodFrame {
        msg: "method",
        id: Id(id),
        method,
        params,
    })
}

/// `{"msg":"sub","id":"<id>","name":..,"params":[..]}`
pub fn encode_sub(id: u32, name: &str, params: &[Value]) -> String {
    to_string(&SubFrame {
        msg: "sub",
        id: Id(id),
        name,
        params,
    })
}

/// `{"msg":"unsub","id":..}`
pub fn encode_unsub(id: &str) -> String {
    to_string(&IdFrame {
        msg: "unsub",
        id: Some(id),
    })
}

/// The answer to a server ping, echoing its id when it had one.
pub fn encode_pong(id: Option<&str>) -> String {
    to_string(&IdFrame { msg: "pong", id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_method_sub_and_pong() {
        let m = encode_method(
            12,
            "sendMessage",
            &[json!({"rid":"GENERAL","msg":"hi \"x\""})],
        );
        let v: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            v,
            json!({"msg":"method","id":"12","method":"sendMessage","params":[{"rid":"GENERAL","msg":"hi \"x\""}]})
        );
        let s = encode_sub(3, "stream-room-messages", &[json!("GENERAL"), json!(false)]);
        assert_eq!(
            s,
            r#"{"msg":"sub","id":"3","name":"stream-room-messages","params":["GENERAL",false]}"#
        );
        assert_eq!(encode_pong(None), r#"{"msg":"pong"}"#);
        assert_eq!(encode_pong(Some("a\"b")), r#"{"msg":"pong","id":"a\"b"}"#);
        assert_eq!(encode_unsub("7"), r#"{"msg":"unsub","id":"7"}"#);
    }

    #[test]
    fn decodes_changed_borrowing_names() {
        let text = r#"{"msg":"changed","collection":"stream-room-messages","id":"id","fields":{"eventName":"GENERAL","args":[{"_id":"m1","msg":"hello","ts":{"$date":1795802885610}}]}}"#;
        let f = Incoming::parse(text).unwrap();
        assert_eq!(f.msg(), "changed");
        let fields = f.fields.unwrap();
        let name = fields.event_name.unwrap();
        assert!(matches!(name.0, Cow::Borrowed("GENERAL")));
        assert_eq!(fields.args[0]["ts"], json!({"$date":1795802885610_u64}));
        // Escaped strings still decode (owned).
        let f = Incoming::parse(
            r#"{"msg":"changed","collection":"a\/b","fields":{"eventName":"r\/typing"}}"#,
        )
        .unwrap();
        assert_eq!(f.collection.unwrap().as_str(), "a/b");
    }

    #[test]
    fn decodes_result_error_ready_and_legacy_server_id() {
        let f =
            Incoming::parse(r#"{"msg":"result","id":"4","error":{"error":404,"reason":"nope"}}"#)
                .unwrap();
        assert_eq!(f.id.unwrap().as_str(), "4");
        assert!(f.error.is_some() && f.result.is_none());
        let f = Incoming::parse(r#"{"msg":"ready","subs":["1","2"]}"#).unwrap();
        assert_eq!(f.subs.len(), 2);
        let f = Incoming::parse(r#"{"server_id":"0"}"#).unwrap();
        assert_eq!(f.msg(), "");
    }
}
