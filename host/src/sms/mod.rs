//! SMS: encoding and segment counting, templates, the sending window, reply reading, and
//! the gateway port with its embedded simulated network, and the SMPP and HTTP gateways.

pub mod encoding;
pub mod gateway;
pub mod http_gateway;
pub mod reply;
pub mod sim;
pub mod smpp;
pub mod template;
pub mod window;
