-- Migration 9 (schema version 9): how an approval is tied to others.
--
-- DingTalk attaches a new instance to an approved one when it is revoked or modified (kb:1517):
-- the new one carries `bizAction` REVOKE / MODIFY and names the original in
-- `mainProcessInstanceId`; the original lists it in `attachedProcessInstanceIds`.
-- `main_process_instance_id` is that original (NULL for none); `attached_ids` a JSON array of the
-- attached ids (NULL for none). Details stored before this migration are read again from their
-- raw responses.

ALTER TABLE approvals ADD COLUMN main_process_instance_id TEXT;
ALTER TABLE approvals ADD COLUMN attached_ids TEXT;

UPDATE approvals
SET main_process_instance_id =
        NULLIF(TRIM(json_extract(raw_json, '$.result.mainProcessInstanceId')), ''),
    attached_ids = CASE
        WHEN json_type(raw_json, '$.result.attachedProcessInstanceIds') = 'array'
             AND json_array_length(raw_json, '$.result.attachedProcessInstanceIds') > 0
        THEN json_extract(raw_json, '$.result.attachedProcessInstanceIds')
    END
WHERE json_valid(raw_json)
  AND json_type(raw_json, '$.result') = 'object'
  AND json_type(raw_json, '$.result.mainProcessInstanceId') IS NOT 'array';
