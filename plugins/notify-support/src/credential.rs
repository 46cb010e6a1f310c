//! Where a notification's token comes from: written in the settings
//! (`token = "..."`) or the password of a service login
//! (`service_login = "NAME"`), which the host resolves for the build's
//! project on each call (trigger API 1.2) and passes in that call's
//! request only.

use super::string_param;
use vespene_plugin_api::kinds::trigger::HookRequest;
use vespene_plugin_api::serde_json::{Map, Value};

/// A token or the service login that holds it. `Debug` names the login
/// and never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    ServiceLogin(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Token(_) => f.write_str("Token(<redacted>)"),
            Credential::ServiceLogin(name) => write!(f, "ServiceLogin({name:?})"),
        }
    }
}

impl Credential {
    /// Exactly one of `token` and `service_login` from `params`.
    pub fn from_params(params: &Map<String, Value>) -> Result<Credential, String> {
        match (
            string_param(params, "token")?,
            string_param(params, "service_login")?,
        ) {
            (Some(token), None) => Ok(Credential::Token(token)),
            (None, Some(login)) => Ok(Credential::ServiceLogin(login)),
            (Some(_), Some(_)) => Err("give 'token' or 'service_login', not both".into()),
            (None, None) => Err("'token' or 'service_login' is required".into()),
        }
    }

    /// The token for this call: the parameter, or the login's password as
    /// the host resolved it for `request` (or why it may not be used).
    pub fn token<'a>(&'a self, request: &'a HookRequest) -> Result<&'a str, String> {
        match self {
            Credential::Token(token) => Ok(token),
            Credential::ServiceLogin(name) => {
                request.service_login(name).map(|c| c.password.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::Credentials;
    use vespene_plugin_api::kinds::trigger::ServiceLoginGrant;
    use vespene_plugin_api::serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn one_of_token_and_service_login() {
        assert_eq!(
            Credential::from_params(&params(json!({"token": "t"}))).unwrap(),
            Credential::Token("t".into())
        );
        let login = Credential::from_params(&params(json!({"service_login": "bot"}))).unwrap();
        assert_eq!(format!("{login:?}"), "ServiceLogin(\"bot\")");
        assert!(
            Credential::from_params(&params(json!({})))
                .unwrap_err()
                .contains("is required")
        );
        assert!(
            Credential::from_params(&params(json!({"token": "t", "service_login": "b"})))
                .unwrap_err()
                .contains("not both")
        );
        assert_eq!(
            format!("{:?}", Credential::Token("t0ken".into())),
            "Token(<redacted>)"
        );
    }

    #[test]
    fn the_token_of_a_login_is_what_the_host_resolved() {
        let login = Credential::ServiceLogin("bot".into());
        let mut request = HookRequest::default();
        assert!(login.token(&request).unwrap_err().contains("not resolved"));
        request.service_logins.insert(
            "bot".into(),
            ServiceLoginGrant::Granted(Credentials {
                name: "bot".into(),
                username: "u".into(),
                password: "p4ss".into(),
            }),
        );
        assert_eq!(login.token(&request).unwrap(), "p4ss");
        request
            .service_logins
            .insert("bot".into(), ServiceLoginGrant::Refused("no".into()));
        assert_eq!(login.token(&request).unwrap_err(), "no");
    }
}
