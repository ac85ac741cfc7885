//! The last-admin rule under concurrency: two admins acting on each other at
//! the same moment must leave one of them active, on both databases.

use herald::accounts::Role;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

const ROUNDS: usize = 6;

async fn admins_acting_on_each_other_at_once_leave_an_active_admin(backend: Backend) {
    let pairs = [
        ("disable", "disable"),
        ("remove", "remove"),
        ("disable", "remove"),
    ];
    for round in 0..ROUNDS {
        let (first_action, second_action) = pairs[round % pairs.len()];
        let app = TestApp::spawn(backend).await;
        let first = app.sign_in_as(Role::Admin).await;
        let second = app.sign_in_as(Role::Admin).await;
        let first_path = format!("/admin/users/{}/{first_action}", second.user.id);
        let second_path = format!("/admin/users/{}/{second_action}", first.user.id);
        let (a, b) = tokio::join!(
            first.post_form(&first_path, &[("confirm", "yes")]),
            second.post_form(&second_path, &[("confirm", "yes")]),
        );
        let statuses = [a.status(), b.status()];
        for status in statuses {
            // 303 either way: back to the users page, done or refused as the
            // last admin, or to the login page once the other went through.
            assert!(status.as_u16() == 303, "round {round}: {statuses:?}");
        }
        let active_admins = app
            .accounts()
            .await
            .users()
            .await
            .expect("users")
            .iter()
            .filter(|u| u.is_admin() && !u.disabled)
            .count();
        assert_eq!(
            active_admins, 1,
            "round {round} ({first_action} / {second_action}): {statuses:?}"
        );
    }
}

on_both_databases!(admins_acting_on_each_other_at_once_leave_an_active_admin);
