//! Who an issue goes to: its topics, shown and changed on the send page
//! (`POST /admin/issues/{id}/topics`), where the number of readers they
//! reach is counted before anything goes out.

use actix_web::{post, web, HttpResponse};

use super::{failure, issues_of, PageError};
use crate::topics::TopicError;
use crate::web::admin::auth::SignedIn;
use crate::web::AppState;

/// A topic's checkbox on the send page.
pub(super) struct IssueTopicBox {
    pub slug: String,
    pub name: String,
    pub private: bool,
    pub checked: bool,
}

/// What the send page says about the topics of issue `id`: a box per topic
/// and the names of those it goes to. Both empty while there is one topic,
/// so a single-list site sees the page as it always was.
pub(super) async fn issue_topics(
    state: &AppState,
    id: i64,
) -> Result<(Vec<IssueTopicBox>, String), PageError> {
    let all = state
        .topics
        .all()
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    if all.len() < 2 {
        return Ok((Vec::new(), String::new()));
    }
    let chosen = state
        .topics
        .of_issue(id)
        .await
        .map_err(|e| PageError::Web(e.into()))?;
    let names: Vec<&str> = chosen.iter().map(|topic| topic.name.as_str()).collect();
    let boxes = all
        .iter()
        .map(|topic| IssueTopicBox {
            slug: topic.slug.to_string(),
            name: topic.name.clone(),
            private: !topic.is_public(),
            checked: chosen.iter().any(|c| c.id == topic.id),
        })
        .collect();
    Ok((boxes, names.join(", ")))
}

/// Readdresses a draft to the topics ticked (one `topics` field a box),
/// then shows the send page again with the count for them.
#[post("/{id:\\d+}/topics")]
#[tracing::instrument(name = "issue_topics", skip_all)]
pub(super) async fn readdress(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let id = *id;
    let back = format!("/admin/issues/{id}/send");
    let slugs: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(key, _)| key == "topics")
        .map(|(_, slug)| slug.into_owned())
        .collect();
    if slugs.is_empty() {
        return Ok(me.redirect_with_error(
            &back,
            "Not changed: tick at least one topic; an issue goes to at least one.",
        ));
    }
    let ids = match state.topics.for_issue(&slugs).await {
        Ok(ids) => ids,
        Err(TopicError::Store(error)) => return Err(PageError::Web(error.into())),
        Err(error) => return Ok(me.redirect_with_error(&back, format!("Not changed: {error}."))),
    };
    issues_of(&state)
        .readdress(id, &ids)
        .await
        .map_err(|e| failure(&state, e))?;
    Ok(me.redirect_with_notice(
        &back,
        "Topics saved; the number of readers below is for them.",
    ))
}
