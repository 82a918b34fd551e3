"""`chat_message_send`: DMs in one statement on PostgreSQL, several at once.

For each item (sender, conversation, encrypted body, client_id) it does what
`chat.services.message_send` does through the ORM (the path SQLite takes): checks that the
sender takes part in the conversation, answers a repeated `client_id` with the original
message, refuses a 1:1 across a block, inserts the message, moves the conversation and the
sender's read position, numbers one `message.new` per participant and logs the events by
reference. One row per item comes back, in the order given, with a status and what the ack
and the publish need.

Several sends share the statement (and its commit) when they arrive together (group commit,
chat/sending.py). Locks are taken in one order for the whole batch, as everywhere else:
conversations by id, then the participants' event counters by user id; so two batches, or a
batch and `realtime.events.append`, never deadlock. Items are applied in the order given, so
a conversation's messages get ids in the order they were sent. An item that fails on
something unforeseen is rolled back alone (status `error`); the others go on.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION chat_message_send(
    p_senders bigint[], p_conversations bigint[], p_bodies text[], p_client_ids text[], p_now timestamptz
) RETURNS TABLE (
    r_index int, r_status text, r_id bigint, r_body text, r_created_at timestamptz,
    r_recipients bigint[], r_seqs bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_direct text;
    v_members bigint[];
    v_id bigint;
    v_old record;
    v_recipients bigint[];
    v_seqs bigint[];
    i int;
BEGIN
    -- Every lock the batch needs, in the one order: conversations, then event counters.
    PERFORM 1 FROM chat_conversation c WHERE c.id = ANY (p_conversations) ORDER BY c.id FOR UPDATE;
    INSERT INTO realtime_eventsequence (user_id, last_id)
    SELECT DISTINCT p.user_id, 0 FROM chat_participant p
     WHERE p.conversation_id = ANY (p_conversations)
       AND NOT EXISTS (SELECT 1 FROM realtime_eventsequence s WHERE s.user_id = p.user_id)
    ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM realtime_eventsequence s
     WHERE s.user_id IN (SELECT p.user_id FROM chat_participant p WHERE p.conversation_id = ANY (p_conversations))
     ORDER BY s.user_id FOR UPDATE;

    FOR i IN 1 .. coalesce(array_length(p_senders, 1), 0) LOOP
        BEGIN
            r_index := i; r_id := NULL; r_body := NULL; r_created_at := NULL; r_recipients := NULL; r_seqs := NULL;
            SELECT c.direct_key INTO v_direct FROM chat_conversation c
             WHERE c.id = p_conversations[i]
               AND EXISTS (SELECT 1 FROM chat_participant p WHERE p.conversation_id = c.id AND p.user_id = p_senders[i]);
            IF NOT FOUND THEN
                r_status := 'not_found';
                RETURN NEXT;
                CONTINUE;
            END IF;

            SELECT m.id, m.conversation_id, m.body, m.created_at INTO v_old
              FROM chat_message m WHERE m.sender_id = p_senders[i] AND m.client_id = p_client_ids[i];
            IF FOUND THEN
                r_status := CASE WHEN v_old.conversation_id <> p_conversations[i] THEN 'conflict' ELSE 'existing' END;
                IF r_status = 'existing' THEN
                    r_id := v_old.id; r_body := v_old.body; r_created_at := v_old.created_at;
                END IF;
                RETURN NEXT;
                CONTINUE;
            END IF;

            SELECT array_agg(p.user_id ORDER BY p.user_id) INTO v_members
              FROM chat_participant p WHERE p.conversation_id = p_conversations[i];
            IF v_direct IS NOT NULL AND EXISTS (
                SELECT 1 FROM accounts_block b
                 WHERE (b.blocker_id = p_senders[i] AND b.blocked_id = ANY (v_members))
                    OR (b.blocked_id = p_senders[i] AND b.blocker_id = ANY (v_members))
            ) THEN
                r_status := 'blocked';
                RETURN NEXT;
                CONTINUE;
            END IF;

            INSERT INTO chat_message (conversation_id, sender_id, body, client_id, created_at)
            VALUES (p_conversations[i], p_senders[i], p_bodies[i], p_client_ids[i], p_now)
            RETURNING id INTO v_id;

            UPDATE chat_conversation SET last_message_id = v_id, last_activity_at = p_now WHERE id = p_conversations[i];
            UPDATE chat_participant SET last_read_message_id = v_id
             WHERE conversation_id = p_conversations[i] AND user_id = p_senders[i] AND last_read_message_id < v_id;

            WITH bumped AS (
                UPDATE realtime_eventsequence s SET last_id = s.last_id + 1
                 WHERE s.user_id = ANY (v_members)
             RETURNING s.user_id, s.last_id
            ), logged AS (
                INSERT INTO realtime_event (user_id, seq, kind, ref, payload, created_at)
                SELECT b.user_id, b.last_id, 'message.new', v_id, NULL, p_now FROM bumped b
                RETURNING realtime_event.user_id, realtime_event.seq
            )
            SELECT array_agg(l.user_id ORDER BY l.user_id), array_agg(l.seq ORDER BY l.user_id)
              INTO v_recipients, v_seqs FROM logged l;

            r_status := 'created'; r_id := v_id; r_body := p_bodies[i]; r_created_at := p_now;
            r_recipients := v_recipients; r_seqs := v_seqs;
            RETURN NEXT;
        EXCEPTION
            WHEN unique_violation THEN
                -- A concurrent send with this client_id committed first: answer as a retry.
                SELECT m.id, m.conversation_id, m.body, m.created_at INTO v_old
                  FROM chat_message m WHERE m.sender_id = p_senders[i] AND m.client_id = p_client_ids[i];
                r_index := i; r_recipients := NULL; r_seqs := NULL;
                IF FOUND AND v_old.conversation_id = p_conversations[i] THEN
                    r_status := 'existing'; r_id := v_old.id; r_body := v_old.body; r_created_at := v_old.created_at;
                ELSE
                    r_status := 'conflict'; r_id := NULL; r_body := NULL; r_created_at := NULL;
                END IF;
                RETURN NEXT;
            WHEN OTHERS THEN
                RAISE WARNING 'chat_message_send: item % failed: %', i, SQLERRM;
                r_index := i; r_status := 'error'; r_id := NULL; r_body := NULL; r_created_at := NULL;
                r_recipients := NULL; r_seqs := NULL;
                RETURN NEXT;
        END;
    END LOOP;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS chat_message_send(bigint[], bigint[], text[], text[], timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0001_initial"),
        ("accounts", "0001_initial"),
        ("realtime", "0002_event_ref_plain_payload"),
    ]

    operations = [migrations.RunPython(create, drop)]
