//! sea-orm entities of the four tables. Only [`super`] uses them; the rest of Hookflow sees
//! model types. JSON documents are stored as text, not as PostgreSQL `jsonb`, so that a
//! definition or payload reads back with its keys in the order they were written.

pub mod workflow {
    //! The current version of each workflow.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflows")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub version: i32,
        pub definition: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod workflow_version {
    //! Every saved version, immutable.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "workflow_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        pub definition: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod execution {
    //! One row per finished execution.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "executions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workflow_key: String,
        pub version: i32,
        pub mode: String,
        pub status: String,
        pub reason: Option<String>,
        pub context: String,
        pub response: Option<String>,
        pub attempts: i32,
        pub created_at: DateTimeUtc,
        pub started_at: Option<DateTimeUtc>,
        pub finished_at: Option<DateTimeUtc>,
        /// The idempotency key the execution was started with (raw value).
        pub idempotency_key: Option<String>,
        /// The execution this one replays.
        pub replay_of: Option<Uuid>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod job {
    //! One row per node run.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "jobs")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub execution_id: Uuid,
        pub position: i32,
        pub node_key: String,
        pub node_type: String,
        pub status: String,
        pub result: String,
        pub started_at: DateTimeUtc,
        pub finished_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod pending_execution {
    //! Embedded mode's journal: async executions answered 2xx but not yet recorded.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "pending_executions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub message: String,
        pub created_at: DateTimeUtc,
        /// Times it was queued again after a restart.
        pub recoveries: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency_key {
    //! Claimed idempotency keys: which execution a key started, and (sync) what it answered.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key_hash: String,
        pub workflow_key: String,
        pub execution_id: Uuid,
        pub mode: String,
        /// `pending` until the first call is answered, then `answered`.
        pub state: String,
        /// The first call's answer (sync): `{statusCode, headers, body}`.
        pub answer: Option<String>,
        /// When the first call is answered at the latest; a key still pending well after it
        /// belongs to a call that never got an answer.
        pub answer_by: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        /// Set by the worker before it runs the execution: a started execution keeps its key.
        pub started: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
