//! `folio:platform/events`: publishing outside a transaction, in the service.

use folio_adapter_protocol as wire;
use folio_adapter_protocol::Call;

use crate::bindings::exports::folio::platform::event_types::OutgoingEvent;
use crate::bindings::exports::folio::platform::events::{Error, Guest};
use crate::remote;

impl Guest for crate::Shim {
    fn publish(event: OutgoingEvent) -> Result<String, Error> {
        let event = to_wire(event);
        match remote::call::<String, wire::EventsError>(&Call::Publish { event }) {
            Err(unreachable) => Err(Error::Unavailable(unreachable)),
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(match e {
                wire::EventsError::InvalidEvent(m) => Error::InvalidEvent(m),
                wire::EventsError::TooLarge(m) => Error::TooLarge(m),
                wire::EventsError::Unavailable(m) => Error::Unavailable(m),
                wire::EventsError::NotAllowed(m) => Error::NotAllowed(m),
            }),
        }
    }
}

pub fn to_wire(event: OutgoingEvent) -> wire::OutgoingEvent {
    wire::OutgoingEvent {
        topic: event.topic,
        type_: event.type_,
        key: event.key,
        subject: event.subject,
        datacontenttype: event.datacontenttype,
        data: event.data,
    }
}
