//! CSV in and out of the subscriber list, for admins: an upload that is first
//! checked (a dry run: what would be added, what is repeated or invalid),
//! then imported as shown on a second press, and a streamed export.
//!
//! Between the two steps the file waits on the shelf (the session holds its
//! ticket), so an error on the form does not make the admin choose it again,
//! and a refresh after the import repeats nothing (post/redirect/get).

use std::sync::Arc;
use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::actor;
use crate::audit::{AuditAction, AuditEntry};
use crate::store::{now_millis, timestamps};
use crate::subscriptions::admin::{Admission, ConsentNote, DryRun, ImportError};
use crate::web::admin::auth::{AdminContext, AdminOnly, SignedIn};
use crate::web::admin::shelf::Shelf;
use crate::web::error::WebError;
use crate::web::pages::html;
use crate::web::AppState;

/// Largest file accepted: a million rows of typical addresses and names is about 45 MB.
const MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;
/// Largest other form field.
const MAX_FIELD_BYTES: usize = 4 * 1024;
const IMPORT_PAGE: &str = "/admin/subscribers/import";

/// Files checked and not yet imported: each admin has one at a time, and
/// together they stay under 512 MB (the oldest go first).
static CHECKED: Shelf<CheckedFile> = Shelf::weighed(
    64,
    Duration::from_secs(60 * 60),
    512 * 1024 * 1024,
    |file| file.bytes.len(),
);

/// Where the session keeps the ticket of the checked file.
const CHECKED_KEY: &str = "import_checked";
/// Where the session keeps what the last import did, for the page after it.
const DONE_KEY: &str = "import_done";

#[derive(Clone)]
struct CheckedFile {
    name: String,
    bytes: Arc<Vec<u8>>,
    confirmed: bool,
    consent_note: String,
    dry_run: DryRun,
}

#[derive(Serialize, Deserialize)]
struct ImportDone {
    added: u64,
    /// The status the new subscribers have, to list them.
    status: String,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(export_csv)
        .service(import_page)
        .service(import_check)
        .service(import_confirm)
        .service(import_template)
        .service(import_script);
}

#[derive(Template)]
#[template(path = "admin/subscriber_import.html")]
struct ImportPage {
    ctx: AdminContext,
    error: Option<String>,
    /// The error of the consent note, shown beside it.
    note_error: Option<String>,
    confirmed: bool,
    consent_note: String,
    /// The file checked and waiting for the second press.
    checked: Option<CheckedView>,
    /// What the import just did.
    done: Option<ImportDone>,
}

struct CheckedView {
    name: String,
    run: DryRun,
    /// False while the form has an error: the file waits, the import does not.
    ready: bool,
}

impl ImportPage {
    fn new(ctx: AdminContext) -> Self {
        Self {
            ctx,
            error: None,
            note_error: None,
            confirmed: false,
            consent_note: String::new(),
            checked: None,
            done: None,
        }
    }

    fn has_errors(&self) -> bool {
        self.error.is_some() || self.note_error.is_some()
    }

    fn show_checked(&mut self, file: CheckedFile, ready: bool) {
        self.confirmed = file.confirmed;
        self.consent_note = file.consent_note;
        self.checked = Some(CheckedView {
            name: file.name,
            run: file.dry_run,
            ready,
        });
    }
}

fn checked_file(me: &SignedIn) -> Option<CheckedFile> {
    let ticket = me.session.get::<String>(CHECKED_KEY).ok().flatten()?;
    CHECKED.peek(&ticket)
}

/// The checked file, read by the import's own thread without a copy.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn forget_checked(me: &SignedIn) -> Option<CheckedFile> {
    let ticket = me
        .session
        .remove_as::<String>(CHECKED_KEY)
        .and_then(Result::ok)?;
    CHECKED.take(&ticket)
}

fn keep_checked(me: &SignedIn, file: CheckedFile) {
    forget_checked(me);
    let ticket = CHECKED.put(file);
    if let Err(error) = me.session.insert(CHECKED_KEY, ticket) {
        tracing::warn!(%error, "cannot keep the checked file for the import");
    }
}

#[get("/subscribers/import")]
async fn import_page(state: web::Data<AppState>, me: AdminOnly) -> Result<HttpResponse, WebError> {
    let me = me.0;
    let mut page = ImportPage::new(me.context(&state, "subscribers"));
    page.done = me
        .session
        .remove_as::<ImportDone>(DONE_KEY)
        .and_then(Result::ok);
    if let Some(file) = checked_file(&me) {
        page.show_checked(file, true);
    }
    html(StatusCode::OK, &page)
}

/// A CSV to start from, with the columns the import expects.
#[get("/subscribers/import/template.csv")]
async fn import_template(_admin: AdminOnly) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"subscribers-template.csv\"",
        ))
        .body("email,name\nann@example.com,Ann Example\nbob@example.org,\n")
}

/// Shows the consent note only when the consent box is ticked.
#[get("/subscribers/import.js")]
async fn import_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../../../assets/import.js"))
}

/// The fields of the upload form.
#[derive(Default)]
struct Upload {
    file: Option<Vec<u8>>,
    file_name: String,
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
            "file" => {
                upload.file_name = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or("the file")
                    .to_owned();
                upload.file = Some(read_field(&mut field, MAX_UPLOAD_BYTES).await?);
            }
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

/// The first press: checks the file (a new one, or the one kept from before)
/// and the form, keeps the file, and shows what the import would do.
/// Multipart, so the CSRF token travels in the query string (`?csrf_token=`).
#[post("/subscribers/import")]
#[tracing::instrument(name = "admin_import_check", skip_all)]
async fn import_check(
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
    let (name, bytes, dry_run) = match upload.file.filter(|f| !f.is_empty()) {
        Some(bytes) => {
            let dry_run = match state.subscriptions.dry_run_csv(&bytes).await {
                Ok(run) => run,
                Err(ImportError::Store { source, .. }) => return Err(source.into()),
                Err(error) => {
                    forget_checked(&me);
                    page.error = Some(format!("{}: {error}", upload.file_name));
                    return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
                }
            };
            (upload.file_name, Arc::new(bytes), dry_run)
        }
        None => match checked_file(&me) {
            Some(kept) => (kept.name, kept.bytes, kept.dry_run),
            None => {
                page.error = Some("Choose a CSV file to import.".to_owned());
                return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
        },
    };
    let file = CheckedFile {
        name,
        bytes,
        confirmed: upload.confirmed,
        consent_note: upload.consent_note.clone(),
        dry_run,
    };
    keep_checked(&me, file.clone());
    if upload.confirmed {
        if let Err(error) = ConsentNote::parse(&upload.consent_note) {
            page.note_error = Some(error.to_string());
            page.show_checked(file, false);
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    }
    Ok(see_other_page())
}

fn see_other_page() -> HttpResponse {
    crate::web::admin::see_other(IMPORT_PAGE)
}

/// The second press: imports the file exactly as checked.
#[post("/subscribers/import/confirm")]
#[tracing::instrument(name = "admin_import", skip_all)]
async fn import_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: AdminOnly,
) -> Result<HttpResponse, WebError> {
    let me = me.0;
    let Some(file) = forget_checked(&me) else {
        return Ok(me.redirect_with_error(
            IMPORT_PAGE,
            "There is no checked file to import (it was imported already, or waited too long): choose the file again.",
        ));
    };
    let admission = if file.confirmed {
        match ConsentNote::parse(&file.consent_note) {
            Ok(note) => Admission::Confirmed(note),
            Err(error) => return Ok(me.redirect_with_error(IMPORT_PAGE, error.to_string())),
        }
    } else {
        Admission::Pending
    };
    let result = state
        .subscriptions
        .import_csv(
            std::io::Cursor::new(SharedBytes(file.bytes)),
            &admission,
            &actor(&me, &req, &state),
        )
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
            let done = ImportDone {
                added: report.added,
                status: if file.confirmed {
                    "confirmed"
                } else {
                    "pending"
                }
                .to_owned(),
            };
            if let Err(error) = me.session.insert(DONE_KEY, done) {
                tracing::warn!(%error, "cannot keep the import's outcome for the next page");
            }
            let notice = format!(
                "{}: {} rows read, {} added, {} already on the list or repeated in the file (left as they were), {} not imported.",
                file.name, report.rows, report.added, report.already_listed, report.rejected
            );
            Ok(me.redirect_with_notice(IMPORT_PAGE, notice))
        }
        Err(ImportError::Store { source, .. }) => Err(source.into()),
        Err(error) => Ok(me.redirect_with_error(IMPORT_PAGE, error.to_string())),
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
