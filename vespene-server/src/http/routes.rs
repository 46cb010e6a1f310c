//! The route table: every route of the server is added here, through
//! [`Routes`], which registers it with actix-web *and* describes it for
//! the OpenAPI document, so the document cannot drift from the routes.
//!
//! Other parts of the server add theirs in [`super::extra::configure`].

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

/// One operation, as the OpenAPI document shows it.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: Method,
    /// actix-web and OpenAPI agree on `{name}` path parameters.
    pub path: String,
    pub tag: &'static str,
    pub operation_id: String,
    pub summary: String,
    /// No user needed (login, webhooks, fileserving, health, metrics).
    pub public: bool,
    /// Query parameters: name, description.
    pub query: Vec<(String, String)>,
    /// The request body's schema and media type.
    pub body: Option<(Value, &'static str)>,
    /// The success response's schema and media type.
    pub response: Option<(Value, &'static str)>,
    /// The success status.
    pub status: u16,
}

impl Op {
    pub fn new(method: Method, path: impl Into<String>, tag: &'static str) -> Op {
        Op {
            method,
            path: path.into(),
            tag,
            operation_id: String::new(),
            summary: String::new(),
            public: false,
            query: Vec::new(),
            body: None,
            response: None,
            status: 200,
        }
    }
    pub fn get(path: impl Into<String>, tag: &'static str) -> Op {
        Op::new(Method::GET, path, tag)
    }
    pub fn post(path: impl Into<String>, tag: &'static str) -> Op {
        Op::new(Method::POST, path, tag)
    }
    pub fn put(path: impl Into<String>, tag: &'static str) -> Op {
        Op::new(Method::PUT, path, tag)
    }
    pub fn delete(path: impl Into<String>, tag: &'static str) -> Op {
        Op::new(Method::DELETE, path, tag).status(204)
    }
    /// The operation id and a one-line summary.
    pub fn id(mut self, id: impl Into<String>, summary: impl Into<String>) -> Op {
        self.operation_id = id.into();
        self.summary = summary.into();
        self
    }
    pub fn public(mut self) -> Op {
        self.public = true;
        self
    }
    pub fn query(mut self, name: impl Into<String>, description: impl Into<String>) -> Op {
        self.query.push((name.into(), description.into()));
        self
    }
    pub fn body(mut self, schema: Value) -> Op {
        self.body = Some((schema, "application/json"));
        self
    }
    pub fn body_as(mut self, schema: Value, media_type: &'static str) -> Op {
        self.body = Some((schema, media_type));
        self
    }
    pub fn returns(mut self, schema: Value) -> Op {
        self.response = Some((schema, "application/json"));
        self
    }
    pub fn returns_as(mut self, schema: Value, media_type: &'static str) -> Op {
        self.response = Some((schema, media_type));
        self
    }
    pub fn status(mut self, status: u16) -> Op {
        self.status = status;
        self
    }
}

/// Registers routes and records them for the OpenAPI document. Made with
/// a `ServiceConfig` by each actix worker, and without one (documentation
/// only) when the document is made.
pub struct Routes<'a> {
    cfg: Option<&'a mut web::ServiceConfig>,
    ops: Vec<Op>,
    schemas: SchemaGenerator,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: Option<&'a mut web::ServiceConfig>) -> Routes<'a> {
        let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
            s.definitions_path = "/components/schemas".into();
        });
        Routes {
            cfg,
            ops: Vec::new(),
            schemas: settings.into_generator(),
        }
    }

    /// A reference to the schema of `T` (added to the document's
    /// components).
    pub fn schema<T: JsonSchema>(&mut self) -> Value {
        self.schemas.subschema_for::<T>().to_value()
    }

    /// Adds `op`, served by `handler`.
    pub fn add<F, Args>(&mut self, op: Op, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        if let Some(cfg) = self.cfg.as_deref_mut() {
            cfg.route(&op.path, web::method(op.method.clone()).to(handler));
        }
        self.ops.push(op);
    }

    /// The operations added, and the schemas they reference.
    pub fn finish(mut self) -> (Vec<Op>, serde_json::Map<String, Value>) {
        let defs = self.schemas.take_definitions(true);
        (self.ops, defs)
    }
}

/// Every route of the server: the API, then [`super::extra`]'s.
pub fn configure(r: &mut Routes<'_>) {
    super::api::configure(r);
    super::extra::configure(r);
}
