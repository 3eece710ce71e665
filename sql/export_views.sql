-- The source contract (shared/postgres/contract.py) over the reference schema (sql/reference_schema.sql).
-- Each view has organization_id, its ordering key and exactly the contract's columns, typed as the
-- contract's kinds: ids as text, times as timestamptz, counts as integer, amounts as double precision,
-- custom fields as jsonb. A column a record kind does not have is a typed NULL.
--
-- Keyset reads stay on indexes: `organization_id = $1 AND key > $2 ORDER BY key LIMIT n` walks the
-- (organization_id, seq) or (organization_id, number) index (the records view: see there).

CREATE OR REPLACE VIEW export_cases AS
SELECT
    c.organization_id,
    c.seq                   AS case_key,
    c.id::text              AS case_id,
    c.case_number,
    c.status,
    c.priority,
    c.created_at,
    c.closed_at,
    c.sla_due_at,
    c.category_id::text     AS category_id,
    cat.name                AS category_name,
    cat.code                AS category_code,
    c.subcategory_name,
    c.source_channel,
    c.is_anonymous,
    c.reporter_relationship,
    c.assigned_to_name,
    c.assigned_to_email,
    c.business_unit_id::text AS business_unit_id,
    bu.name                 AS business_unit_name,
    bu.code                 AS business_unit_code,
    c.location_id::text     AS location_id,
    loc.name                AS location_name,
    loc.country             AS location_country,
    loc.region              AS location_region,
    c.outcome,
    c.outcome_reason,
    c.has_remediation,
    c.remediation_status,
    c.subject_count,
    c.attachment_count,
    c.template_id::text     AS template_id,
    c.custom_fields
FROM cases AS c
LEFT JOIN categories AS cat
    ON cat.organization_id = c.organization_id AND cat.id = c.category_id
LEFT JOIN business_units AS bu
    ON bu.organization_id = c.organization_id AND bu.id = c.business_unit_id
LEFT JOIN locations AS loc
    ON loc.organization_id = c.organization_id AND loc.id = c.location_id;

-- Each case's records come from a LATERAL join on the case, not from a UNION ALL of four joins with cases:
-- a keyset read then walks cases in seq order and fetches each case's records through the (case_id,
-- position) indexes, sorting only within a case. Over four joins the planner hashes every record of the
-- organization and sorts them all, whatever the LIMIT.
CREATE OR REPLACE VIEW export_case_records AS
SELECT
    c.organization_id,
    c.seq AS case_key,
    r.kind,
    r.position,
    r.template_id,
    r.custom_fields,
    r.responses,
    r.investigation_id,
    r.type,
    r.status,
    r.outcome,
    r.investigator_name,
    r.started_at,
    r.completed_at,
    r.interview_count,
    r.finding_summary,
    r.riu_id,
    r.received_at,
    r.disclosure_id,
    r.submitted_at,
    r.discloser_name,
    r.amount,
    r.response_id,
    r.respondent_name
FROM cases AS c
CROSS JOIN LATERAL (
    SELECT
        'INV'::text               AS kind,
        i.position,
        i.template_id::text       AS template_id,
        i.custom_fields,
        NULL::jsonb               AS responses,
        i.id::text                AS investigation_id,
        i.type,
        i.status,
        i.outcome,
        i.investigator_name,
        i.started_at,
        i.completed_at,
        i.interview_count,
        i.finding_summary,
        NULL::text                AS riu_id,
        NULL::timestamptz         AS received_at,
        NULL::text                AS disclosure_id,
        NULL::timestamptz         AS submitted_at,
        NULL::text                AS discloser_name,
        NULL::double precision    AS amount,
        NULL::text                AS response_id,
        NULL::text                AS respondent_name
    FROM investigations AS i
    WHERE i.organization_id = c.organization_id AND i.case_id = c.id
    UNION ALL
    SELECT
        'RIU'::text,
        u.position,
        u.template_id::text,
        u.custom_fields,
        NULL::jsonb,
        NULL::text,
        u.type,
        NULL::text,
        NULL::text,
        NULL::text,
        NULL::timestamptz,
        NULL::timestamptz,
        NULL::integer,
        NULL::text,
        u.id::text,
        u.received_at,
        NULL::text,
        NULL::timestamptz,
        NULL::text,
        NULL::double precision,
        NULL::text,
        NULL::text
    FROM rius AS u
    WHERE u.organization_id = c.organization_id AND u.case_id = c.id
    UNION ALL
    SELECT
        'DIS'::text,
        d.position,
        d.template_id::text,
        d.custom_fields,
        NULL::jsonb,
        NULL::text,
        d.type,
        d.status,
        NULL::text,
        NULL::text,
        NULL::timestamptz,
        NULL::timestamptz,
        NULL::integer,
        NULL::text,
        NULL::text,
        NULL::timestamptz,
        d.id::text,
        d.submitted_at,
        d.discloser_name,
        d.amount,
        NULL::text,
        NULL::text
    FROM disclosures AS d
    WHERE d.organization_id = c.organization_id AND d.case_id = c.id
    UNION ALL
    SELECT
        'IRS'::text,
        s.position,
        s.template_id::text,
        NULL::jsonb,
        s.responses,
        s.investigation_id::text,
        NULL::text,
        NULL::text,
        NULL::text,
        NULL::text,
        NULL::timestamptz,
        NULL::timestamptz,
        NULL::integer,
        NULL::text,
        NULL::text,
        NULL::timestamptz,
        NULL::text,
        s.submitted_at,
        NULL::text,
        NULL::double precision,
        s.id::text,
        s.respondent_name
    FROM interview_responses AS s
    WHERE s.organization_id = c.organization_id AND s.case_id = c.id
) AS r;

CREATE OR REPLACE VIEW export_tickets AS
SELECT
    t.organization_id,
    t.number               AS ticket_key,
    t.id::text             AS ticket_id,
    t.number,
    t.title,
    t.description,
    t.status,
    t.priority,
    t.team_id::text        AS team_id,
    t.team_name,
    t.assignee_id::text    AS assignee_id,
    t.assignee_name,
    t.requester_name,
    t.requester_email,
    t.created_at,
    t.updated_at,
    t.closed_at,
    t.tags,
    t.custom_fields
FROM tickets AS t;
