"""`chat_message_send`: one DM in one statement on PostgreSQL.

It does what `chat.services.message_send` does through the ORM (the path SQLite takes), in
one round trip: locks the conversation if the sender takes part in it, answers a repeated
`client_id` with the original message, refuses a 1:1 across a block, inserts the message,
moves the conversation and the sender's read position, numbers one `message.new` per
participant (their counters locked in user id order, as `realtime.events.append` does) and
logs the events by reference. It returns a status and what the ack and the publish need.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION chat_message_send(
    p_sender bigint, p_conversation bigint, p_body text, p_client_id text, p_now timestamptz
) RETURNS TABLE (
    r_status text, r_id bigint, r_body text, r_created_at timestamptz, r_recipients bigint[], r_seqs bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_direct text;
    v_members bigint[];
    v_id bigint;
    v_old record;
BEGIN
    SELECT c.direct_key INTO v_direct
      FROM chat_conversation c
     WHERE c.id = p_conversation
       AND EXISTS (SELECT 1 FROM chat_participant p WHERE p.conversation_id = c.id AND p.user_id = p_sender)
       FOR UPDATE OF c;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::bigint[], NULL::bigint[];
        RETURN;
    END IF;

    FOR attempt IN 1..2 LOOP
        SELECT m.id, m.conversation_id, m.body, m.created_at INTO v_old
          FROM chat_message m WHERE m.sender_id = p_sender AND m.client_id = p_client_id;
        IF FOUND THEN
            IF v_old.conversation_id <> p_conversation THEN
                RETURN QUERY SELECT 'conflict'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::bigint[], NULL::bigint[];
            ELSE
                RETURN QUERY SELECT 'existing'::text, v_old.id, v_old.body, v_old.created_at, NULL::bigint[], NULL::bigint[];
            END IF;
            RETURN;
        END IF;
        EXIT WHEN attempt = 2;

        SELECT array_agg(p.user_id ORDER BY p.user_id) INTO v_members
          FROM chat_participant p WHERE p.conversation_id = p_conversation;
        IF v_direct IS NOT NULL AND EXISTS (
            SELECT 1 FROM accounts_block b
             WHERE (b.blocker_id = p_sender AND b.blocked_id = ANY (v_members))
                OR (b.blocked_id = p_sender AND b.blocker_id = ANY (v_members))
        ) THEN
            RETURN QUERY SELECT 'blocked'::text, NULL::bigint, NULL::text, NULL::timestamptz, NULL::bigint[], NULL::bigint[];
            RETURN;
        END IF;

        INSERT INTO chat_message (conversation_id, sender_id, body, client_id, created_at)
        VALUES (p_conversation, p_sender, p_body, p_client_id, p_now)
        ON CONFLICT (sender_id, client_id) DO NOTHING
        RETURNING id INTO v_id;
        -- None inserted: a concurrent send with this client_id committed first; answer as a retry.
        EXIT WHEN v_id IS NOT NULL;
    END LOOP;

    UPDATE chat_conversation SET last_message_id = v_id, last_activity_at = p_now WHERE id = p_conversation;
    UPDATE chat_participant SET last_read_message_id = v_id
     WHERE conversation_id = p_conversation AND user_id = p_sender AND last_read_message_id < v_id;

    INSERT INTO realtime_eventsequence (user_id, last_id)
    SELECT u.id, 0 FROM unnest(v_members) AS u(id)
     WHERE NOT EXISTS (SELECT 1 FROM realtime_eventsequence s WHERE s.user_id = u.id)
    ON CONFLICT (user_id) DO NOTHING;
    PERFORM 1 FROM realtime_eventsequence s WHERE s.user_id = ANY (v_members) ORDER BY s.user_id FOR UPDATE;

    RETURN QUERY
    WITH bumped AS (
        UPDATE realtime_eventsequence s SET last_id = s.last_id + 1
         WHERE s.user_id = ANY (v_members)
     RETURNING s.user_id, s.last_id
    ), logged AS (
        INSERT INTO realtime_event (user_id, seq, kind, ref, payload, created_at)
        SELECT b.user_id, b.last_id, 'message.new', v_id, NULL, p_now FROM bumped b
        RETURNING realtime_event.user_id, realtime_event.seq
    )
    SELECT 'created'::text, v_id, p_body, p_now,
           array_agg(l.user_id ORDER BY l.user_id), array_agg(l.seq ORDER BY l.user_id)
      FROM logged l;
END
$$;
"""

DROP = "DROP FUNCTION IF EXISTS chat_message_send(bigint, bigint, text, text, timestamptz);"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


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
