//! Request bodies: OpenAI Chat Completions to Anthropic Messages and back.

use serde_json::{json, Map, Value};

use super::{Api, TranslateError};
use crate::wire::serde_util::Extra;
use crate::wire::{anthropic as a, openai as o};

/// Translates an OpenAI chat request for an Anthropic upstream.
///
/// `system` and `developer` messages become `system` text blocks; `tool` messages become
/// `tool_result` blocks of a user turn, and consecutive turns of one role are merged, as the
/// Messages API wants alternating roles. `max_completion_tokens` (or `max_tokens`, or
/// `default_max_tokens`) becomes the required `max_tokens`; `temperature` is clamped to
/// Anthropic's 0 to 1; `user` becomes `metadata.user_id`. `model` is copied; the caller sets the
/// upstream's model name.
pub fn openai_request_to_anthropic(
    req: &o::ChatRequest,
    default_max_tokens: u32,
) -> Result<a::MessagesRequest, TranslateError> {
    if let Some(n) = req.n.filter(|&n| n > 1) {
        return Err(TranslateError::unsupported(format!("`n` = `{n}`"), Api::Anthropic));
    }
    let mut system = Vec::new();
    let mut messages: Vec<a::Message> = Vec::with_capacity(req.messages.len());
    for (index, message) in req.messages.iter().enumerate() {
        match &message.role {
            o::Role::System | o::Role::Developer => system_blocks(message, &mut system)?,
            o::Role::User => {
                let content = user_content(message.content.as_ref())?;
                push_message(&mut messages, a::Role::User, content);
            }
            o::Role::Assistant => {
                let blocks = assistant_blocks(message)?;
                push_message(&mut messages, a::Role::Assistant, a::Content::Blocks(blocks));
            }
            o::Role::Tool => {
                let block = tool_result_block(message, index)?;
                push_message(&mut messages, a::Role::User, a::Content::Blocks(vec![block]));
            }
            other => return Err(TranslateError::unsupported(format!("message role `{other}`"), Api::Anthropic)),
        }
    }
    let tools = req
        .tools
        .as_deref()
        .map(|tools| tools.iter().map(tool_to_anthropic).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let has_tools = tools.as_ref().is_some_and(|tools| !tools.is_empty());
    let tool_choice =
        if has_tools { tool_choice_to_anthropic(req.tool_choice.as_ref(), req.parallel_tool_calls)? } else { None };
    Ok(a::MessagesRequest {
        model: req.model.clone(),
        messages,
        max_tokens: req.max_completion_tokens.or(req.max_tokens).unwrap_or(default_max_tokens),
        system: system_content(system),
        metadata: req.user.as_ref().map(|user| a::Metadata { user_id: Some(user.clone()), extra: Extra::new() }),
        stop_sequences: req
            .stop
            .as_ref()
            .map(|stop| stop.iter().map(str::to_owned).collect::<Vec<_>>())
            .filter(|stop| !stop.is_empty()),
        stream: req.stream,
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: None,
        tools,
        tool_choice,
        thinking: None,
        extra: Extra::new(),
    })
}

/// Appends a turn, merging it into the previous one when the role repeats; empty turns are
/// dropped (the API rejects them).
fn push_message(messages: &mut Vec<a::Message>, role: a::Role, content: a::Content) {
    let is_empty = match &content {
        a::Content::Text(text) => text.is_empty(),
        a::Content::Blocks(blocks) => blocks.is_empty(),
    };
    if is_empty {
        return;
    }
    if let Some(last) = messages.last_mut().filter(|last| last.role == role) {
        let previous = std::mem::replace(&mut last.content, a::Content::Blocks(Vec::new()));
        let mut blocks = previous.into_blocks();
        blocks.extend(content.into_blocks());
        last.content = a::Content::Blocks(blocks);
        return;
    }
    messages.push(a::Message { role, content });
}

fn text_block(part: &o::TextPart) -> a::TextBlock {
    a::TextBlock {
        text: part.text.clone(),
        // Prompt-caching breakpoints are not OpenAI API, but clients of gateways put them on
        // parts; keeping them costs nothing and saves the client money.
        cache_control: part.extra.get("cache_control").cloned(),
        extra: Extra::new(),
    }
}

fn system_blocks(message: &o::ChatMessage, out: &mut Vec<a::TextBlock>) -> Result<(), TranslateError> {
    match &message.content {
        None => {}
        Some(o::MessageContent::Text(text)) if !text.is_empty() => {
            out.push(a::TextBlock::new(text.clone()));
        }
        Some(o::MessageContent::Text(_)) => {}
        Some(o::MessageContent::Parts(parts)) => {
            for part in parts {
                match part {
                    o::ContentPart::Text(part) => out.push(text_block(part)),
                    other => {
                        return Err(TranslateError::unsupported(
                            format!("content part `{}` in a system message", other.kind()),
                            Api::Anthropic,
                        ))
                    }
                }
            }
        }
    }
    Ok(())
}

/// One plain block stays a string; anything richer stays blocks.
fn system_content(mut blocks: Vec<a::TextBlock>) -> Option<a::Content> {
    if let [only] = blocks.as_slice() {
        if only.cache_control.is_none() {
            return blocks.pop().map(|block| a::Content::Text(block.text));
        }
    }
    (!blocks.is_empty()).then(|| a::Content::Blocks(blocks.into_iter().map(a::ContentBlock::Text).collect()))
}

fn user_content(content: Option<&o::MessageContent>) -> Result<a::Content, TranslateError> {
    match content {
        None => Ok(a::Content::Blocks(Vec::new())),
        Some(o::MessageContent::Text(text)) => Ok(a::Content::Text(text.clone())),
        Some(o::MessageContent::Parts(parts)) => {
            parts.iter().map(part_to_block).collect::<Result<Vec<_>, _>>().map(a::Content::Blocks)
        }
    }
}

fn part_to_block(part: &o::ContentPart) -> Result<a::ContentBlock, TranslateError> {
    match part {
        o::ContentPart::Text(part) => Ok(a::ContentBlock::Text(text_block(part))),
        o::ContentPart::Refusal(part) => Ok(a::ContentBlock::Text(a::TextBlock::new(part.refusal.clone()))),
        o::ContentPart::ImageUrl(part) => Ok(a::ContentBlock::Image(a::ImageBlock {
            source: image_source(&part.image_url.url)?,
            cache_control: part.extra.get("cache_control").cloned(),
            extra: Extra::new(),
        })),
        o::ContentPart::Other(_) => {
            Err(TranslateError::unsupported(format!("content part `{}`", part.kind()), Api::Anthropic))
        }
    }
}

/// An OpenAI image URL as an Anthropic image source: `data:<type>;base64,<data>` becomes a
/// base64 source, `http(s)://` a URL source.
fn image_source(url: &str) -> Result<a::ImageSource, TranslateError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) =
            rest.split_once(',').ok_or(TranslateError::InvalidImageUrl { reason: "a `data:` url without a comma" })?;
        let mut params = meta.split(';');
        let media_type = params.next().unwrap_or_default();
        if !params.any(|param| param.eq_ignore_ascii_case("base64")) {
            return Err(TranslateError::InvalidImageUrl { reason: "only base64 `data:` urls are supported" });
        }
        if media_type.is_empty() {
            return Err(TranslateError::InvalidImageUrl { reason: "a `data:` url without a media type" });
        }
        return Ok(a::ImageSource::Base64(a::Base64Source {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
            extra: Extra::new(),
        }));
    }
    let scheme_end = url.find("://").unwrap_or(0);
    let scheme = &url[..scheme_end];
    if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") {
        Ok(a::ImageSource::Url(a::UrlSource { url: url.to_owned(), extra: Extra::new() }))
    } else {
        Err(TranslateError::InvalidImageUrl { reason: "only `http(s)` and base64 `data:` urls are supported" })
    }
}

fn assistant_blocks(message: &o::ChatMessage) -> Result<Vec<a::ContentBlock>, TranslateError> {
    let mut blocks = Vec::new();
    match &message.content {
        None => {}
        Some(o::MessageContent::Text(text)) if !text.is_empty() => {
            blocks.push(a::ContentBlock::Text(a::TextBlock::new(text.clone())));
        }
        Some(o::MessageContent::Text(_)) => {}
        Some(o::MessageContent::Parts(parts)) => {
            for part in parts {
                match part {
                    o::ContentPart::Text(part) => {
                        if !part.text.is_empty() {
                            blocks.push(a::ContentBlock::Text(text_block(part)));
                        }
                    }
                    o::ContentPart::Refusal(part) => {
                        blocks.push(a::ContentBlock::Text(a::TextBlock::new(part.refusal.clone())));
                    }
                    other => {
                        return Err(TranslateError::unsupported(
                            format!("content part `{}` in an assistant message", other.kind()),
                            Api::Anthropic,
                        ))
                    }
                }
            }
        }
    }
    for call in message.tool_calls.iter().flatten() {
        match call {
            o::ToolCall::Function(call) => blocks.push(a::ContentBlock::ToolUse(a::ToolUseBlock {
                id: call.id.clone(),
                name: call.function.name.clone(),
                input: parse_arguments(&call.id, &call.function.arguments)?,
                cache_control: None,
                extra: Extra::new(),
            })),
            o::ToolCall::Other(_) => {
                return Err(TranslateError::unsupported(format!("tool call of type `{}`", call.kind()), Api::Anthropic))
            }
        }
    }
    Ok(blocks)
}

/// Tool call arguments as the JSON object Anthropic requires; empty text is `{}`.
fn parse_arguments(id: &str, arguments: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(TranslateError::InvalidToolArguments { id: id.to_owned(), source: None }),
        Err(source) => Err(TranslateError::InvalidToolArguments { id: id.to_owned(), source: Some(source) }),
    }
}

fn tool_result_block(message: &o::ChatMessage, index: usize) -> Result<a::ContentBlock, TranslateError> {
    let tool_use_id = message.tool_call_id.clone().ok_or_else(|| TranslateError::InvalidMessage {
        index,
        reason: "a `tool` message needs `tool_call_id`".to_owned(),
    })?;
    let content = match &message.content {
        None => None,
        Some(o::MessageContent::Text(text)) => Some(a::Content::Text(text.clone())),
        Some(o::MessageContent::Parts(parts)) => {
            Some(a::Content::Blocks(parts.iter().map(part_to_block).collect::<Result<Vec<_>, _>>()?))
        }
    };
    Ok(a::ContentBlock::ToolResult(a::ToolResultBlock {
        tool_use_id,
        content,
        is_error: None,
        cache_control: None,
        extra: Extra::new(),
    }))
}

fn tool_to_anthropic(tool: &o::Tool) -> Result<a::Tool, TranslateError> {
    match tool {
        o::Tool::Function(tool) => Ok(a::Tool {
            name: tool.function.name.clone(),
            description: tool.function.description.clone(),
            // Anthropic requires a schema; a parameterless OpenAI function may omit it.
            input_schema: Some(
                tool.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            ),
            kind: None,
            cache_control: tool.extra.get("cache_control").cloned(),
            extra: Extra::new(),
        }),
        o::Tool::Other(_) => {
            Err(TranslateError::unsupported(format!("tool of type `{}`", tool.kind()), Api::Anthropic))
        }
    }
}

fn tool_choice_to_anthropic(
    choice: Option<&o::ToolChoice>,
    parallel_tool_calls: Option<bool>,
) -> Result<Option<a::ToolChoice>, TranslateError> {
    let disable_parallel = (parallel_tool_calls == Some(false)).then_some(true);
    let options = || a::ToolChoiceOptions { disable_parallel_tool_use: disable_parallel, extra: Extra::new() };
    Ok(match choice {
        None if disable_parallel.is_some() => Some(a::ToolChoice::Auto(options())),
        None => None,
        Some(o::ToolChoice::Auto) => Some(a::ToolChoice::Auto(options())),
        Some(o::ToolChoice::Required) => Some(a::ToolChoice::Any(options())),
        Some(o::ToolChoice::None) => Some(a::ToolChoice::None(a::ToolChoiceOptions::default())),
        Some(o::ToolChoice::Function { name }) => Some(a::ToolChoice::Tool(a::ToolChoiceTool {
            name: name.clone(),
            disable_parallel_tool_use: disable_parallel,
            extra: Extra::new(),
        })),
        Some(o::ToolChoice::Other(value)) => {
            return Err(TranslateError::unsupported(format!("`tool_choice` `{value}`"), Api::Anthropic))
        }
    })
}

/// Translates an Anthropic messages request for an OpenAI-format upstream.
///
/// `system` becomes a leading system message; `tool_result` blocks become `tool` messages placed
/// before the rest of their user turn; `tool_use` blocks become `tool_calls`; thinking blocks are
/// dropped (Chat Completions has no way to send them back). `max_tokens` becomes
/// `max_completion_tokens`; a stream asks for `stream_options.include_usage` so usage can be
/// accounted and reported. Server tools, documents and images inside tool results are refused.
pub fn anthropic_request_to_openai(req: &a::MessagesRequest) -> Result<o::ChatRequest, TranslateError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        let text = system_text(system)?;
        if !text.is_empty() {
            messages.push(o::ChatMessage::text(o::Role::System, text));
        }
    }
    for (index, message) in req.messages.iter().enumerate() {
        match &message.role {
            a::Role::User => user_to_openai(&message.content, &mut messages)?,
            a::Role::Assistant => messages.push(assistant_to_openai(&message.content)?),
            a::Role::Other(role) => {
                return Err(TranslateError::InvalidMessage { index, reason: format!("unknown role `{role}`") })
            }
        }
    }
    let tools = req
        .tools
        .as_deref()
        .map(|tools| tools.iter().map(tool_to_openai).collect::<Result<Vec<_>, _>>())
        .transpose()?;
    let has_tools = tools.as_ref().is_some_and(|tools| !tools.is_empty());
    let (tool_choice, parallel_tool_calls) = match (&req.tool_choice, has_tools) {
        (Some(choice), true) => tool_choice_to_openai(choice)?,
        _ => (None, None),
    };
    Ok(o::ChatRequest {
        model: req.model.clone(),
        messages,
        max_completion_tokens: Some(req.max_tokens),
        temperature: req.temperature,
        top_p: req.top_p,
        stop: req.stop_sequences.as_ref().filter(|stop| !stop.is_empty()).map(|stop| o::Stop::Many(stop.clone())),
        stream: req.stream,
        stream_options: req.is_stream().then(|| o::StreamOptions { include_usage: Some(true), extra: Extra::new() }),
        tools,
        tool_choice,
        parallel_tool_calls,
        user: req.metadata.as_ref().and_then(|metadata| metadata.user_id.clone()),
        ..o::ChatRequest::default()
    })
}

/// The text of a system prompt; blocks are joined with newlines.
fn system_text(system: &a::Content) -> Result<String, TranslateError> {
    match system {
        a::Content::Text(text) => Ok(text.clone()),
        a::Content::Blocks(blocks) => {
            let mut text = String::new();
            for block in blocks {
                match block {
                    a::ContentBlock::Text(block) => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&block.text);
                    }
                    other => {
                        return Err(TranslateError::unsupported(
                            format!("`{}` block in `system`", other.kind()),
                            Api::OpenAi,
                        ))
                    }
                }
            }
            Ok(text)
        }
    }
}

fn openai_text_part(text: &str) -> o::ContentPart {
    o::ContentPart::Text(o::TextPart { text: text.to_owned(), extra: Extra::new() })
}

/// Parts as content: a lone text part becomes a plain string, which every OpenAI-compatible
/// server accepts.
fn parts_content(mut parts: Vec<o::ContentPart>) -> o::MessageContent {
    if let [o::ContentPart::Text(_)] = parts.as_slice() {
        if let Some(o::ContentPart::Text(part)) = parts.pop() {
            return o::MessageContent::Text(part.text);
        }
    }
    o::MessageContent::Parts(parts)
}

fn user_to_openai(content: &a::Content, out: &mut Vec<o::ChatMessage>) -> Result<(), TranslateError> {
    let blocks = match content {
        a::Content::Text(text) => {
            out.push(o::ChatMessage::text(o::Role::User, text.clone()));
            return Ok(());
        }
        a::Content::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            a::ContentBlock::ToolResult(result) => out.push(tool_message(result)?),
            a::ContentBlock::Text(block) => parts.push(openai_text_part(&block.text)),
            a::ContentBlock::Image(block) => parts.push(o::ContentPart::ImageUrl(o::ImageUrlPart {
                image_url: o::ImageUrl { url: image_url(&block.source)?, detail: None, extra: Extra::new() },
                extra: Extra::new(),
            })),
            other => {
                return Err(TranslateError::unsupported(
                    format!("`{}` block in a user message", other.kind()),
                    Api::OpenAi,
                ))
            }
        }
    }
    if !parts.is_empty() {
        out.push(o::ChatMessage {
            role: o::Role::User,
            content: Some(parts_content(parts)),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: Extra::new(),
        });
    }
    Ok(())
}

fn image_url(source: &a::ImageSource) -> Result<String, TranslateError> {
    match source {
        a::ImageSource::Base64(source) => Ok(format!("data:{};base64,{}", source.media_type, source.data)),
        a::ImageSource::Url(source) => Ok(source.url.clone()),
        a::ImageSource::Other(_) => {
            Err(TranslateError::unsupported(format!("image source `{}`", source.kind()), Api::OpenAi))
        }
    }
}

fn tool_message(result: &a::ToolResultBlock) -> Result<o::ChatMessage, TranslateError> {
    let content = match &result.content {
        None => o::MessageContent::Text(String::new()),
        Some(a::Content::Text(text)) => o::MessageContent::Text(text.clone()),
        Some(a::Content::Blocks(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for block in blocks {
                match block {
                    a::ContentBlock::Text(block) => parts.push(openai_text_part(&block.text)),
                    other => {
                        return Err(TranslateError::unsupported(
                            format!("`{}` block in a tool result", other.kind()),
                            Api::OpenAi,
                        ))
                    }
                }
            }
            parts_content(parts)
        }
    };
    Ok(o::ChatMessage {
        role: o::Role::Tool,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: Some(result.tool_use_id.clone()),
        extra: Extra::new(),
    })
}

/// A tool input as OpenAI `arguments` text; a missing input is `{}`.
pub(super) fn input_to_arguments(input: &Value) -> String {
    match input {
        Value::Null => "{}".to_owned(),
        // `Value`'s `Display` writes compact JSON and cannot fail.
        other => other.to_string(),
    }
}

fn assistant_to_openai(content: &a::Content) -> Result<o::ChatMessage, TranslateError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    match content {
        a::Content::Text(content) => text.push_str(content),
        a::Content::Blocks(blocks) => {
            for block in blocks {
                match block {
                    a::ContentBlock::Text(block) => text.push_str(&block.text),
                    a::ContentBlock::ToolUse(block) => {
                        calls.push(o::ToolCall::Function(o::FunctionToolCall {
                            id: block.id.clone(),
                            function: o::FunctionCall {
                                name: block.name.clone(),
                                arguments: input_to_arguments(&block.input),
                                extra: Extra::new(),
                            },
                            extra: Extra::new(),
                        }));
                    }
                    a::ContentBlock::Thinking(_) | a::ContentBlock::RedactedThinking(_) => {}
                    other => {
                        return Err(TranslateError::unsupported(
                            format!("`{}` block in an assistant message", other.kind()),
                            Api::OpenAi,
                        ))
                    }
                }
            }
        }
    }
    Ok(o::ChatMessage {
        role: o::Role::Assistant,
        content: (!text.is_empty() || calls.is_empty()).then_some(o::MessageContent::Text(text)),
        name: None,
        tool_calls: (!calls.is_empty()).then_some(calls),
        tool_call_id: None,
        extra: Extra::new(),
    })
}

fn tool_to_openai(tool: &a::Tool) -> Result<o::Tool, TranslateError> {
    if !tool.is_custom() {
        return Err(TranslateError::unsupported(
            format!("server tool `{}`", tool.kind.as_deref().unwrap_or_default()),
            Api::OpenAi,
        ));
    }
    Ok(o::Tool::Function(o::FunctionTool {
        function: o::FunctionDef {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters: tool.input_schema.clone(),
            strict: None,
            extra: Extra::new(),
        },
        extra: Extra::new(),
    }))
}

fn tool_choice_to_openai(choice: &a::ToolChoice) -> Result<(Option<o::ToolChoice>, Option<bool>), TranslateError> {
    let parallel = |disable: Option<bool>| (disable == Some(true)).then_some(false);
    Ok(match choice {
        a::ToolChoice::Auto(options) => (Some(o::ToolChoice::Auto), parallel(options.disable_parallel_tool_use)),
        a::ToolChoice::Any(options) => (Some(o::ToolChoice::Required), parallel(options.disable_parallel_tool_use)),
        a::ToolChoice::Tool(tool) => {
            (Some(o::ToolChoice::Function { name: tool.name.clone() }), parallel(tool.disable_parallel_tool_use))
        }
        a::ToolChoice::None(_) => (Some(o::ToolChoice::None), None),
        a::ToolChoice::Other(_) => {
            return Err(TranslateError::unsupported(format!("`tool_choice` of type `{}`", choice.kind()), Api::OpenAi))
        }
    })
}
