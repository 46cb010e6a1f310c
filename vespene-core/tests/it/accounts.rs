//! Accounts: users with hashed passwords, authentication, API tokens.

use crate::support::{TestDb, both_backends};
use vespene_core::accounts::{self, TOKEN_PREFIX};
use vespene_core::db::aggregate::Aggregate;
use vespene_core::db::users::Users;
use vespene_core::ops::*;

fn passwords_and_login(t: &TestDb) {
    let admin = accounts::create_user(&t.db, "admin", Some("s3cret pass"), true).unwrap();
    assert!(admin.is_superuser);
    let hash = admin.password_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("s3cret"));
    assert!(
        !format!("{admin:?}").contains("argon2"),
        "Debug hides the hash"
    );

    let info = accounts::authenticate(&t.db, "admin", "s3cret pass")
        .unwrap()
        .unwrap();
    assert_eq!((info.id, info.is_superuser), (admin.id, true));
    assert!(
        accounts::authenticate(&t.db, "admin", "wrong")
            .unwrap()
            .is_none()
    );
    assert!(
        accounts::authenticate(&t.db, "nobody", "s3cret pass")
            .unwrap()
            .is_none()
    );
    let got = Users::get(&mut t.conn(), admin.id).unwrap();
    assert!(got.user.last_login.is_some(), "login recorded");

    let tokens_only = accounts::create_user(&t.db, "robot", None, false).unwrap();
    assert!(tokens_only.password_hash.is_none());
    assert!(
        accounts::authenticate(&t.db, "robot", "")
            .unwrap()
            .is_none()
    );
    assert!(
        accounts::create_user(&t.db, "admin", None, false).is_err(),
        "duplicate"
    );
    assert!(
        accounts::create_user(&t.db, "x", Some(""), false).is_err(),
        "empty password"
    );

    // An inactive user cannot log in.
    let ops = t.system_ops();
    let mut input = UserInput::from(&ops.users().get(&Actor::System, admin.id).unwrap());
    input.is_active = false;
    ops.users()
        .update_user(&Actor::System, admin.id, &input)
        .unwrap();
    assert!(
        accounts::authenticate(&t.db, "admin", "s3cret pass")
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        ops.actor_for_user(admin.id),
        Err(OpError::Denied { .. })
    ));
}

fn api_tokens(t: &TestDb) {
    let u = accounts::create_user(&t.db, "dev", None, false).unwrap();
    let other = accounts::create_user(&t.db, "other", None, false).unwrap();
    let made = accounts::create_token(&t.db, u.id, "laptop").unwrap();
    assert!(made.token.starts_with(TOKEN_PREFIX));
    assert_eq!(made.token.len(), TOKEN_PREFIX.len() + 43);
    assert!(
        !format!("{made:?}").contains(&made.token[4..]),
        "Debug redacts the token"
    );
    let second = accounts::create_token(&t.db, u.id, "ci").unwrap();
    assert_ne!(made.token, second.token);

    let (info, row) = accounts::lookup_token(&t.db, &made.token).unwrap().unwrap();
    assert_eq!((info.id, info.username.as_str()), (u.id, "dev"));
    assert_eq!(row.name, "laptop");
    assert!(
        row.last_used_at.is_none(),
        "the row as it was before this use"
    );
    let (_, row) = accounts::lookup_token(&t.db, &made.token).unwrap().unwrap();
    assert!(row.last_used_at.is_some(), "use recorded");

    let listed = accounts::list_tokens(&t.db, u.id).unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["ci", "laptop"]
    );
    for tok in &listed {
        assert_eq!(tok.token_hash.len(), 64, "only a digest is stored");
        assert!(!made.token.contains(&tok.token_hash));
        assert!(
            made.token.starts_with(&tok.token_prefix)
                || second.token.starts_with(&tok.token_prefix)
        );
        assert!(!format!("{tok:?}").contains(&tok.token_hash));
    }

    assert!(
        accounts::lookup_token(&t.db, "vsp_not-a-token")
            .unwrap()
            .is_none()
    );
    assert!(accounts::lookup_token(&t.db, "garbage").unwrap().is_none());
    let tampered = format!("{}x", &made.token[..made.token.len() - 1]);
    assert!(accounts::lookup_token(&t.db, &tampered).unwrap().is_none());

    assert!(
        !accounts::revoke_token(&t.db, other.id, made.id).unwrap(),
        "not theirs"
    );
    assert!(accounts::revoke_token(&t.db, u.id, made.id).unwrap());
    assert!(
        accounts::lookup_token(&t.db, &made.token)
            .unwrap()
            .is_none()
    );
    assert!(
        accounts::lookup_token(&t.db, &second.token)
            .unwrap()
            .is_some()
    );
    assert!(accounts::create_token(&t.db, 999_999, "x").is_err());
    assert!(accounts::create_token(&t.db, u.id, " ").is_err());

    // The token of a disabled user stops working.
    let ops = t.system_ops();
    let mut input = UserInput::from(&ops.users().get(&Actor::System, u.id).unwrap());
    input.is_active = false;
    ops.users()
        .update_user(&Actor::System, u.id, &input)
        .unwrap();
    assert!(
        accounts::lookup_token(&t.db, &second.token)
            .unwrap()
            .is_none()
    );
}

fn set_password_and_groups(t: &TestDb) {
    let ops = t.system_ops();
    let g = ops
        .groups()
        .create(&Actor::System, &GroupInput { name: "qa".into() })
        .unwrap()
        .group
        .id;
    let u = accounts::create_user(&t.db, "tess", None, false).unwrap();
    accounts::set_password(&t.db, u.id, Some("new one")).unwrap();
    assert!(
        accounts::authenticate(&t.db, "tess", "new one")
            .unwrap()
            .is_some()
    );
    accounts::set_password(&t.db, u.id, None).unwrap();
    assert!(
        accounts::authenticate(&t.db, "tess", "new one")
            .unwrap()
            .is_none()
    );
    let mut input = UserInput::from(&ops.users().get(&Actor::System, u.id).unwrap());
    input.groups = vec![g];
    ops.users()
        .update_user(&Actor::System, u.id, &input)
        .unwrap();
    let info = accounts::user_info(&mut t.conn(), u.id).unwrap();
    assert_eq!(
        info.groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        ["qa"]
    );
    assert!(!vespene_core::db::users::any_superuser(&mut t.conn()).unwrap());
}

both_backends!(passwords_and_login, api_tokens, set_password_and_groups);
