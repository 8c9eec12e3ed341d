//! Schema migrations, run at start by every process (idempotent; sea-orm records them).

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(AddPendingExecutions),
            Box::new(AddPendingRecoveries),
            Box::new(AddIdempotencyKeys),
            Box::new(AddReplayOf),
            Box::new(AddKeyStarted),
        ]
    }
}

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Key,
    Version,
    Definition,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowVersions {
    Table,
    Key,
    Version,
    Definition,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Executions {
    Table,
    Id,
    WorkflowKey,
    Version,
    Mode,
    Status,
    Reason,
    Context,
    Response,
    Attempts,
    CreatedAt,
    StartedAt,
    FinishedAt,
    IdempotencyKey,
    ReplayOf,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    ExecutionId,
    Position,
    NodeKey,
    NodeType,
    Status,
    Result,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PendingExecutions {
    Table,
    Id,
    Message,
    CreatedAt,
    Recoveries,
}

/// Embedded mode's journal of accepted async executions (see `queue::journal`).
struct AddPendingExecutions;

impl MigrationName for AddPendingExecutions {
    fn name(&self) -> &str {
        "m20261128_000002_pending_executions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPendingExecutions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PendingExecutions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(PendingExecutions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PendingExecutions::Message).text().not_null())
                    .col(ColumnDef::new(PendingExecutions::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PendingExecutions::Table).to_owned()).await
    }
}

/// How many times a journaled execution was queued again after a restart, so one that keeps
/// taking the process down is given up on (`queue::journal`).
struct AddPendingRecoveries;

impl MigrationName for AddPendingRecoveries {
    fn name(&self) -> &str {
        "m20261129_000003_pending_recoveries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPendingRecoveries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(PendingExecutions::Recoveries).integer().not_null().default(0).to_owned();
        add_column(manager, "pending_executions", column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "pending_executions", PendingExecutions::Recoveries).await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    KeyHash,
    WorkflowKey,
    ExecutionId,
    Mode,
    State,
    Answer,
    AnswerBy,
    ExpiresAt,
    Started,
}

/// Adds a column to `table` unless it is there already (a schema that got it some other way).
async fn add_column(manager: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    if manager.has_column(table, &column.get_column_name()).await? {
        return Ok(());
    }
    manager.alter_table(Table::alter().table(Alias::new(table)).add_column(column).to_owned()).await
}

async fn drop_column(manager: &SchemaManager<'_>, table: &str, column: impl IntoIden) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(Alias::new(table)).drop_column(column).to_owned()).await
}

/// Whether a key's execution has started: a key whose execution started is never taken over.
struct AddKeyStarted;

impl MigrationName for AddKeyStarted {
    fn name(&self) -> &str {
        "m20261129_000006_idempotency_key_started"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddKeyStarted {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = ColumnDef::new(IdempotencyKeys::Started).boolean().not_null().default(false).to_owned();
        add_column(manager, "idempotency_keys", column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "idempotency_keys", IdempotencyKeys::Started).await
    }
}

/// Which execution a replay replays (`POST /api/executions/{id}/replay`).
struct AddReplayOf;

impl MigrationName for AddReplayOf {
    fn name(&self) -> &str {
        "m20261129_000005_replay_of"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReplayOf {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "executions", ColumnDef::new(Executions::ReplayOf).uuid().null().to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "executions", Executions::ReplayOf).await
    }
}

/// Idempotency keys (SPEC §3.1): one row per claimed key, the durable authority on which
/// execution a key started; and the key each execution was started with.
struct AddIdempotencyKeys;

impl MigrationName for AddIdempotencyKeys {
    fn name(&self) -> &str {
        "m20261129_000004_idempotency_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddIdempotencyKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(IdempotencyKeys::KeyHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(IdempotencyKeys::WorkflowKey).string_len(64).not_null())
                    .col(ColumnDef::new(IdempotencyKeys::ExecutionId).uuid().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Mode).string_len(8).not_null())
                    .col(ColumnDef::new(IdempotencyKeys::State).string_len(16).not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Answer).text().null())
                    .col(ColumnDef::new(IdempotencyKeys::AnswerBy).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::ExpiresAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        add_column(manager, "executions", ColumnDef::new(Executions::IdempotencyKey).text().null().to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned()).await?;
        drop_column(manager, "executions", Executions::IdempotencyKey).await
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261128_000001_initial"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Workflows::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Workflows::Key).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(Workflows::Version).integer().not_null())
                    .col(ColumnDef::new(Workflows::Definition).text().not_null())
                    .col(ColumnDef::new(Workflows::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Workflows::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkflowVersions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(WorkflowVersions::Key).string_len(64).not_null())
                    .col(ColumnDef::new(WorkflowVersions::Version).integer().not_null())
                    .col(ColumnDef::new(WorkflowVersions::Definition).text().not_null())
                    .col(ColumnDef::new(WorkflowVersions::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(WorkflowVersions::Key).col(WorkflowVersions::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Executions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Executions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Executions::WorkflowKey).string_len(64).not_null())
                    .col(ColumnDef::new(Executions::Version).integer().not_null())
                    .col(ColumnDef::new(Executions::Mode).string_len(8).not_null())
                    .col(ColumnDef::new(Executions::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Executions::Reason).text().null())
                    .col(ColumnDef::new(Executions::Context).text().not_null())
                    .col(ColumnDef::new(Executions::Response).text().null())
                    .col(ColumnDef::new(Executions::Attempts).integer().not_null())
                    .col(ColumnDef::new(Executions::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Executions::StartedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Executions::FinishedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("executions_workflow_id")
                    .table(Executions::Table)
                    .col(Executions::WorkflowKey)
                    .col(Executions::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("executions_created_at")
                    .table(Executions::Table)
                    .col(Executions::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Jobs::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(Jobs::ExecutionId).uuid().not_null())
                    .col(ColumnDef::new(Jobs::Position).integer().not_null())
                    .col(ColumnDef::new(Jobs::NodeKey).string_len(64).not_null())
                    .col(ColumnDef::new(Jobs::NodeType).string_len(32).not_null())
                    .col(ColumnDef::new(Jobs::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Jobs::Result).text().not_null())
                    .col(ColumnDef::new(Jobs::StartedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Jobs::FinishedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("jobs_execution_position")
                    .table(Jobs::Table)
                    .col(Jobs::ExecutionId)
                    .col(Jobs::Position)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Jobs::Table.into_iden(), Executions::Table.into_iden()] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(WorkflowVersions::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Workflows::Table).to_owned()).await
    }
}
