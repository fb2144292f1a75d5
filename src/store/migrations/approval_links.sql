-- Migration 9 (schema version 9): how an approval is tied to others.
--
-- DingTalk attaches a new instance to an approved one when it is revoked or modified (kb:1517):
-- the new one carries `bizAction` REVOKE / MODIFY and names the original in
-- `mainProcessInstanceId`; the original lists it in `attachedProcessInstanceIds`.
-- `main_process_instance_id` is that original (NULL for none); `attached_ids` a JSON array of the
-- attached ids (NULL for none). Details stored before this migration are read again from their
-- raw responses; an id that is not a string, or is blank, is left out (as the decoder does).

ALTER TABLE approvals ADD COLUMN main_process_instance_id TEXT;
ALTER TABLE approvals ADD COLUMN attached_ids TEXT;

UPDATE approvals
SET main_process_instance_id = CASE
        WHEN json_type(raw_json, '$.result.mainProcessInstanceId') IN ('text', 'integer')
        THEN NULLIF(TRIM(CAST(json_extract(raw_json, '$.result.mainProcessInstanceId') AS TEXT)), '')
    END,
    -- The ids as the decoder keeps them: strings that are not blank; NULL when none is left.
    attached_ids = CASE
        WHEN json_type(raw_json, '$.result.attachedProcessInstanceIds') = 'array'
        THEN (SELECT CASE WHEN count(*) > 0 THEN json_group_array(value) END
              FROM json_each(raw_json, '$.result.attachedProcessInstanceIds')
              WHERE type = 'text' AND TRIM(value) != '')
    END
WHERE json_valid(raw_json)
  AND json_type(raw_json, '$.result') = 'object';
