//! CSV in and out of the subscriber list, for admins: an upload form whose
//! rows are imported as they are read, and a streamed export.

use actix_multipart::{Field, Multipart};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::TryStreamExt;

use super::actor;
use crate::audit::{AuditAction, AuditEntry};
use crate::store::{now_millis, timestamps};
use crate::subscriptions::admin::{Admission, ConsentNote, ImportError, ImportReport};
use crate::web::admin::auth::{AdminContext, AdminOnly};
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

/// Largest file accepted: a million rows of typical addresses and names is about 45 MB.
const MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;
/// Largest other form field.
const MAX_FIELD_BYTES: usize = 4 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(export_csv)
        .service(import_page)
        .service(import_upload);
}

#[derive(Template)]
#[template(path = "admin/subscriber_import.html")]
struct ImportPage {
    ctx: AdminContext,
    report: Option<ImportReport>,
    error: Option<String>,
    confirmed: bool,
    consent_note: String,
}

impl ImportPage {
    fn new(ctx: AdminContext) -> Self {
        Self {
            ctx,
            report: None,
            error: None,
            confirmed: false,
            consent_note: String::new(),
        }
    }
}

#[get("/subscribers/import")]
async fn import_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    html(
        StatusCode::OK,
        &ImportPage::new(me.0.context(&state, "subscribers")),
    )
}

/// The fields of the upload form.
#[derive(Default)]
struct Upload {
    file: Option<Vec<u8>>,
    confirmed: bool,
    consent_note: String,
}

#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("The upload did not arrive whole; try again.")]
    Broken(#[from] actix_multipart::MultipartError),
    #[error("The file is too large: at most {} MB at a time (split it, or use `herald subscribers import`).", MAX_UPLOAD_BYTES / 1024 / 1024)]
    TooLarge,
}

async fn read_field(field: &mut Field, limit: usize) -> Result<Vec<u8>, UploadError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.try_next().await? {
        if bytes.len() + chunk.len() > limit {
            return Err(UploadError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn read_upload(mut payload: Multipart) -> Result<Upload, UploadError> {
    let mut upload = Upload::default();
    while let Some(mut field) = payload.try_next().await? {
        match field.name().unwrap_or_default() {
            "file" => upload.file = Some(read_field(&mut field, MAX_UPLOAD_BYTES).await?),
            "confirmed" => {
                upload.confirmed = !read_field(&mut field, MAX_FIELD_BYTES).await?.is_empty();
            }
            "consent_note" => {
                let note = read_field(&mut field, MAX_FIELD_BYTES).await?;
                upload.consent_note = String::from_utf8_lossy(&note).into_owned();
            }
            _ => {
                read_field(&mut field, MAX_FIELD_BYTES).await?;
            }
        }
    }
    Ok(upload)
}

/// Multipart, so the CSRF token travels in the query string (`?csrf_token=`).
#[post("/subscribers/import")]
#[tracing::instrument(name = "admin_import", skip_all)]
async fn import_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
    payload: Multipart,
) -> Result<HttpResponse, WebError> {
    let me = me.0;
    let mut page = ImportPage::new(me.context(&state, "subscribers"));
    let upload = match read_upload(payload).await {
        Ok(upload) => upload,
        Err(error) => {
            page.error = Some(error.to_string());
            let status = match error {
                UploadError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                UploadError::Broken(_) => StatusCode::BAD_REQUEST,
            };
            return html(status, &page);
        }
    };
    page.confirmed = upload.confirmed;
    page.consent_note = upload.consent_note.clone();
    let admission = if upload.confirmed {
        match ConsentNote::parse(&upload.consent_note) {
            Ok(note) => Admission::Confirmed(note),
            Err(error) => {
                page.error = Some(error.to_string());
                return html(StatusCode::BAD_REQUEST, &page);
            }
        }
    } else {
        Admission::Pending
    };
    let Some(file) = upload.file.filter(|f| !f.is_empty()) else {
        page.error = Some("Choose a CSV file to import.".to_owned());
        return html(StatusCode::BAD_REQUEST, &page);
    };
    let result = state
        .subscriptions
        .import_csv(file.as_slice(), &admission, &actor(&me, &req, &state))
        .await;
    match result {
        Ok(report) => {
            state
                .record_audit(
                    &req,
                    AuditEntry::new(me.actor(), AuditAction::SubscribersImported)
                        .detail(report.summary(&admission)),
                )
                .await;
            page.report = Some(report);
            html(StatusCode::OK, &page)
        }
        Err(ImportError::Store { source, .. }) => Err(source.into()),
        Err(error) => {
            page.error = Some(error.to_string());
            html(StatusCode::BAD_REQUEST, &page)
        }
    }
}

/// The whole list as CSV, streamed page by page.
#[get("/subscribers/export.csv")]
#[tracing::instrument(name = "admin_export", skip_all)]
async fn export_csv(req: HttpRequest, state: web::Data<AppState>, me: AdminOnly) -> HttpResponse {
    state
        .record_audit(
            &req,
            AuditEntry::new(me.0.actor(), AuditAction::SubscribersExported),
        )
        .await;
    let export = state.subscriptions.export_csv();
    let chunks = futures_util::stream::try_unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((web::Bytes::from(chunk), export))),
            Ok(None) => Ok(None),
            Err(error) => {
                // The status is sent already; cutting the stream short is
                // how the client learns the file is incomplete.
                tracing::error!(error = %crate::web::error_chain(&error), "export failed");
                Err(actix_web::error::ErrorInternalServerError("export failed"))
            }
        }
    });
    let filename = format!("subscribers-{}.csv", timestamps::date(now_millis()));
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(chunks)
}
