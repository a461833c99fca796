/**
 * The converters of other protocols to the chat shape, row by row on bodies shaped as the providers' API
 * references show them (OpenAI's Responses reference and reasoning / function calling guides, Anthropic's
 * Messages reference and tool use / extended thinking / prompt caching guides): each row gives the original
 * request and response and the chat call they must become. Then what no chat can hold: a ConversionError that
 * names it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConversionError,
  finishReasonOf,
  firstMessage,
  messagesToChat,
  responsesToChat,
  toolCallsOf,
  usageOf,
} from "./index.ts";

type J = Record<string, unknown>;
interface Row {
  name: string;
  request: J;
  response: J | null;
  expect: { request: J; response: J | null };
}

const responsesRows: Row[] = [
  {
    name: "text input, instructions, plain answer",
    request: {
      model: "gpt-4.1",
      instructions: "Talk like a pirate.",
      input: "Are semicolons optional in JavaScript?",
    },
    response: {
      id: "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
      object: "response",
      created_at: 1741476542,
      status: "completed",
      error: null,
      incomplete_details: null,
      model: "gpt-4.1-2025-04-14",
      output: [
        {
          type: "message",
          id: "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
          status: "completed",
          role: "assistant",
          content: [{ type: "output_text", text: "Arr, matey! Semicolons be optional.", annotations: [] }],
        },
      ],
      usage: {
        input_tokens: 36,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 87,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 123,
      },
    },
    expect: {
      request: {
        model: "gpt-4.1",
        messages: [
          { role: "system", content: "Talk like a pirate." },
          { role: "user", content: "Are semicolons optional in JavaScript?" },
        ],
      },
      response: {
        id: "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
        object: "chat.completion",
        created: 1741476542,
        model: "gpt-4.1-2025-04-14",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: "Arr, matey! Semicolons be optional." },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 36,
          completion_tokens: 87,
          total_tokens: 123,
          prompt_tokens_details: { cached_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0 },
        },
      },
    },
  },
  {
    name: "a conversation of items: reasoning, function calls and their outputs; a tool call answered; parameters",
    request: {
      model: "o4-mini",
      reasoning: { effort: "low", summary: "auto" },
      max_output_tokens: 2000,
      tools: [
        {
          type: "function",
          name: "get_weather",
          description: "Get current temperature for a given location.",
          parameters: {
            type: "object",
            properties: { location: { type: "string" } },
            required: ["location"],
          },
          strict: true,
        },
        { type: "web_search_preview" },
      ],
      tool_choice: { type: "function", name: "get_weather" },
      input: [
        { role: "developer", content: "Use tools when you need data." },
        {
          role: "user",
          content: [{ type: "input_text", text: "What's the weather like in Paris and Bogotá?" }],
        },
        {
          type: "reasoning",
          id: "rs_6820f383d7c08191846711c5df8233bc0ac5ba57aafcbac7",
          summary: [{ type: "summary_text", text: "**Checking two cities**" }],
        },
        {
          type: "function_call",
          id: "fc_12345xyz",
          call_id: "call_12345xyz",
          name: "get_weather",
          arguments: '{"location":"Paris, France"}',
        },
        {
          type: "function_call",
          id: "fc_67890abc",
          call_id: "call_67890abc",
          name: "get_weather",
          arguments: '{"location":"Bogotá, Colombia"}',
        },
        { type: "function_call_output", call_id: "call_12345xyz", output: "14°C" },
        { type: "function_call_output", call_id: "call_67890abc", output: "18°C" },
      ],
    },
    response: {
      id: "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b",
      object: "response",
      created_at: 1756315696,
      status: "completed",
      model: "o4-mini-2025-04-16",
      output: [
        {
          type: "reasoning",
          id: "rs_68af4030baa48193b0b43b4c2a176a1a05438e46b5f69a3b",
          summary: [
            { type: "summary_text", text: "**Comparing temperatures**" },
            { type: "summary_text", text: "Bogotá is warmer." },
          ],
        },
        {
          type: "message",
          id: "msg_68af40337e58819392e935fb404414d005438e46b5f69a3b",
          status: "completed",
          role: "assistant",
          content: [
            {
              type: "output_text",
              text: "Paris is 14°C and Bogotá 18°C.",
              annotations: [
                {
                  type: "url_citation",
                  start_index: 0,
                  end_index: 5,
                  url: "https://weather.example/paris",
                  title: "Paris",
                },
              ],
            },
          ],
        },
      ],
      usage: {
        input_tokens: 320,
        input_tokens_details: { cached_tokens: 256 },
        output_tokens: 148,
        output_tokens_details: { reasoning_tokens: 128 },
        total_tokens: 468,
      },
    },
    expect: {
      request: {
        model: "o4-mini",
        messages: [
          { role: "developer", content: "Use tools when you need data." },
          { role: "user", content: [{ type: "text", text: "What's the weather like in Paris and Bogotá?" }] },
          {
            role: "assistant",
            content: null,
            reasoning_content: "**Checking two cities**",
            tool_calls: [
              {
                id: "call_12345xyz",
                type: "function",
                function: { name: "get_weather", arguments: '{"location":"Paris, France"}' },
              },
              {
                id: "call_67890abc",
                type: "function",
                function: { name: "get_weather", arguments: '{"location":"Bogotá, Colombia"}' },
              },
            ],
          },
          { role: "tool", tool_call_id: "call_12345xyz", content: "14°C" },
          { role: "tool", tool_call_id: "call_67890abc", content: "18°C" },
        ],
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              description: "Get current temperature for a given location.",
              parameters: {
                type: "object",
                properties: { location: { type: "string" } },
                required: ["location"],
              },
              strict: true,
            },
          },
          { type: "web_search_preview" },
        ],
        tool_choice: { type: "function", function: { name: "get_weather" } },
        max_completion_tokens: 2000,
        reasoning_effort: "low",
      },
      response: {
        id: "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b",
        object: "chat.completion",
        created: 1756315696,
        model: "o4-mini-2025-04-16",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: "Paris is 14°C and Bogotá 18°C.",
              reasoning_content: "**Comparing temperatures**\n\nBogotá is warmer.",
              annotations: [
                {
                  type: "url_citation",
                  url_citation: {
                    url: "https://weather.example/paris",
                    title: "Paris",
                    start_index: 0,
                    end_index: 5,
                  },
                },
              ],
            },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 320,
          completion_tokens: 148,
          total_tokens: 468,
          prompt_tokens_details: { cached_tokens: 256 },
          completion_tokens_details: { reasoning_tokens: 128 },
        },
      },
    },
  },
  {
    name: "parallel function calls answered, structured output asked, an image in the input",
    request: {
      model: "gpt-4.1",
      input: [
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "Which city is this? Then get its weather." },
            { type: "input_image", image_url: "https://example.com/eiffel.jpg", detail: "auto" },
          ],
        },
      ],
      text: {
        format: {
          type: "json_schema",
          name: "city",
          schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          strict: true,
        },
      },
      parallel_tool_calls: true,
      metadata: { feature: "weather" },
    },
    response: {
      id: "resp_parallel",
      object: "response",
      created_at: 1741294021,
      status: "completed",
      model: "gpt-4.1-2025-04-14",
      output: [
        {
          type: "function_call",
          id: "fc_1",
          call_id: "call_1",
          name: "get_weather",
          arguments: '{"location":"Paris"}',
          status: "completed",
        },
        {
          type: "function_call",
          id: "fc_2",
          call_id: "call_2",
          name: "get_time",
          arguments: '{"location":"Paris"}',
          status: "completed",
        },
      ],
      usage: { input_tokens: 291, output_tokens: 23, total_tokens: 314 },
    },
    expect: {
      request: {
        model: "gpt-4.1",
        parallel_tool_calls: true,
        metadata: { feature: "weather" },
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "Which city is this? Then get its weather." },
              { type: "image_url", image_url: { url: "https://example.com/eiffel.jpg", detail: "auto" } },
            ],
          },
        ],
        response_format: {
          type: "json_schema",
          json_schema: {
            name: "city",
            schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
            strict: true,
          },
        },
      },
      response: {
        id: "resp_parallel",
        object: "chat.completion",
        created: 1741294021,
        model: "gpt-4.1-2025-04-14",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: null,
              tool_calls: [
                {
                  id: "call_1",
                  type: "function",
                  function: { name: "get_weather", arguments: '{"location":"Paris"}' },
                },
                {
                  id: "call_2",
                  type: "function",
                  function: { name: "get_time", arguments: '{"location":"Paris"}' },
                },
              ],
            },
            finish_reason: "tool_calls",
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: 291, completion_tokens: 23, total_tokens: 314 },
      },
    },
  },
  {
    name: "a refusal, cut short by max_output_tokens",
    request: { model: "gpt-4o", input: "How do I pick a lock?", max_output_tokens: 16 },
    response: {
      id: "resp_refusal",
      object: "response",
      created_at: 1741300000,
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      model: "gpt-4o-2024-08-06",
      output: [
        {
          type: "message",
          id: "msg_r",
          role: "assistant",
          status: "incomplete",
          content: [{ type: "refusal", refusal: "I can't help with that." }],
        },
      ],
      usage: { input_tokens: 12, output_tokens: 16, total_tokens: 28 },
    },
    expect: {
      request: {
        model: "gpt-4o",
        messages: [{ role: "user", content: "How do I pick a lock?" }],
        max_completion_tokens: 16,
      },
      response: {
        id: "resp_refusal",
        object: "chat.completion",
        created: 1741300000,
        model: "gpt-4o-2024-08-06",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: null, refusal: "I can't help with that." },
            finish_reason: "length",
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: 12, completion_tokens: 16, total_tokens: 28 },
      },
    },
  },
  {
    name: "a failed response keeps its error; an error body stays an error",
    request: { model: "gpt-4.1", input: "hi" },
    response: {
      id: "resp_failed",
      object: "response",
      created_at: 1741300001,
      status: "failed",
      error: { code: "server_error", message: "The model failed to generate a response." },
      model: "gpt-4.1-2025-04-14",
      output: [],
      usage: null,
    },
    expect: {
      request: { model: "gpt-4.1", messages: [{ role: "user", content: "hi" }] },
      response: {
        id: "resp_failed",
        object: "chat.completion",
        created: 1741300001,
        model: "gpt-4.1-2025-04-14",
        choices: [
          { index: 0, message: { role: "assistant", content: null }, finish_reason: null, logprobs: null },
        ],
        error: { message: "The model failed to generate a response.", code: "server_error" },
      },
    },
  },
  {
    name: "an HTTP error body, and a call without a response",
    request: { model: "gpt-4.1", input: "hi", stream: true },
    response: {
      error: {
        message: "Incorrect API key provided",
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    },
    expect: {
      request: { model: "gpt-4.1", stream: true, messages: [{ role: "user", content: "hi" }] },
      response: {
        error: {
          message: "Incorrect API key provided",
          type: "invalid_request_error",
          code: "invalid_api_key",
          param: null,
        },
      },
    },
  },
  {
    name: "a built-in tool ran (web search): a tool call named after it, finish stop",
    request: { model: "gpt-4.1", input: "News today?", tools: [{ type: "web_search" }] },
    response: {
      id: "resp_ws",
      object: "response",
      created_at: 1741300002,
      status: "completed",
      model: "gpt-4.1-2025-04-14",
      output: [
        {
          type: "web_search_call",
          id: "ws_67c9fa0502748190b7dd390736892e100be649c1a5ff9609",
          status: "completed",
          action: { type: "search", query: "news today" },
        },
        {
          type: "message",
          id: "msg_ws",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text: "Here is the news.", annotations: [] }],
        },
      ],
    },
    expect: {
      request: {
        model: "gpt-4.1",
        messages: [{ role: "user", content: "News today?" }],
        tools: [{ type: "web_search" }],
      },
      response: {
        id: "resp_ws",
        object: "chat.completion",
        created: 1741300002,
        model: "gpt-4.1-2025-04-14",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: "Here is the news.",
              tool_calls: [
                {
                  id: "ws_67c9fa0502748190b7dd390736892e100be649c1a5ff9609",
                  type: "function",
                  function: {
                    name: "web_search",
                    arguments: '{"action":{"type":"search","query":"news today"}}',
                  },
                },
              ],
            },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
      },
    },
  },
];

const messagesRows: Row[] = [
  {
    name: "system text, a plain answer, usage with the cache",
    request: {
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      system: "You are a helpful assistant.",
      messages: [{ role: "user", content: "Hello, Claude" }],
      metadata: { user_id: "user-42" },
      stop_sequences: ["\n\nHuman:"],
      temperature: 0.5,
    },
    response: {
      id: "msg_013Zva2CMHLNnXjNJJKqJ2EF",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5-20250929",
      content: [{ type: "text", text: "Hi! My name is Claude." }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: 2095,
        output_tokens: 503,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 1800,
      },
    },
    expect: {
      request: {
        model: "claude-sonnet-4-5",
        temperature: 0.5,
        messages: [
          { role: "system", content: "You are a helpful assistant." },
          { role: "user", content: "Hello, Claude" },
        ],
        max_completion_tokens: 1024,
        stop: ["\n\nHuman:"],
        user: "user-42",
      },
      response: {
        id: "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        object: "chat.completion",
        model: "claude-sonnet-4-5-20250929",
        choices: [
          {
            index: 0,
            message: { role: "assistant", content: "Hi! My name is Claude." },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 3995,
          completion_tokens: 503,
          total_tokens: 4498,
          prompt_tokens_details: { cached_tokens: 1800, cache_creation_tokens: 100 },
        },
      },
    },
  },
  {
    name: "tools: parallel tool_use blocks after thinking, answered by tool_result blocks; system blocks; an image",
    request: {
      model: "claude-opus-4-1",
      max_tokens: 4096,
      thinking: { type: "enabled", budget_tokens: 2048 },
      system: [
        { type: "text", text: "You are a weather bot." },
        { type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } },
      ],
      tools: [
        {
          name: "get_weather",
          description: "Get the current weather in a given location",
          input_schema: {
            type: "object",
            properties: { location: { type: "string" } },
            required: ["location"],
          },
        },
        { type: "web_search_20250305", name: "web_search", max_uses: 5 },
      ],
      tool_choice: { type: "any", disable_parallel_tool_use: false },
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
            { type: "text", text: "Weather here and in Paris?" },
          ],
        },
        {
          role: "assistant",
          content: [
            {
              type: "thinking",
              thinking: "The image shows London.",
              signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3h",
            },
            { type: "text", text: "I'll check both." },
            {
              type: "tool_use",
              id: "toolu_01A09q90qw90lq917835lq9",
              name: "get_weather",
              input: { location: "London" },
            },
            { type: "tool_use", id: "toolu_01B", name: "get_weather", input: { location: "Paris" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_01A09q90qw90lq917835lq9", content: "15 degrees" },
            {
              type: "tool_result",
              tool_use_id: "toolu_01B",
              content: [{ type: "text", text: "18 degrees" }],
              is_error: false,
            },
            { type: "text", text: "Thanks." },
          ],
        },
      ],
    },
    response: {
      id: "msg_01Aq9w938a90dw8q",
      type: "message",
      role: "assistant",
      model: "claude-opus-4-1-20250805",
      content: [
        { type: "thinking", thinking: "Both results are in.", signature: "sig" },
        { type: "redacted_thinking", data: "EmwKAhgBEgy3va3pzix" },
        { type: "text", text: "London is 15°C, " },
        { type: "text", text: "Paris 18°C." },
      ],
      stop_reason: "end_turn",
      usage: { input_tokens: 120, output_tokens: 40 },
    },
    expect: {
      request: {
        model: "claude-opus-4-1",
        messages: [
          {
            role: "system",
            content: [
              { type: "text", text: "You are a weather bot." },
              { type: "text", text: "Be brief." },
            ],
          },
          {
            role: "user",
            content: [
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
              { type: "text", text: "Weather here and in Paris?" },
            ],
          },
          {
            role: "assistant",
            content: "I'll check both.",
            reasoning_content: "The image shows London.",
            tool_calls: [
              {
                id: "toolu_01A09q90qw90lq917835lq9",
                type: "function",
                function: { name: "get_weather", arguments: '{"location":"London"}' },
              },
              {
                id: "toolu_01B",
                type: "function",
                function: { name: "get_weather", arguments: '{"location":"Paris"}' },
              },
            ],
          },
          { role: "tool", tool_call_id: "toolu_01A09q90qw90lq917835lq9", content: "15 degrees" },
          { role: "tool", tool_call_id: "toolu_01B", content: "18 degrees" },
          { role: "user", content: [{ type: "text", text: "Thanks." }] },
        ],
        max_completion_tokens: 4096,
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              parameters: {
                type: "object",
                properties: { location: { type: "string" } },
                required: ["location"],
              },
              description: "Get the current weather in a given location",
            },
          },
          { type: "web_search_20250305", name: "web_search", max_uses: 5 },
        ],
        tool_choice: "required",
      },
      response: {
        id: "msg_01Aq9w938a90dw8q",
        object: "chat.completion",
        model: "claude-opus-4-1-20250805",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: "London is 15°C, Paris 18°C.",
              reasoning_content: "Both results are in.",
            },
            finish_reason: "stop",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 120,
          completion_tokens: 40,
          total_tokens: 160,
          prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
        },
      },
    },
  },
  {
    name: "the answer is a tool call (stop_reason tool_use), tool_choice tool without parallel calls",
    request: {
      model: "claude-haiku-4-5",
      max_tokens: 256,
      tool_choice: { type: "tool", name: "get_stock_price", disable_parallel_tool_use: true },
      tools: [
        {
          name: "get_stock_price",
          input_schema: { type: "object", properties: { ticker: { type: "string" } } },
        },
      ],
      messages: [{ role: "user", content: [{ type: "text", text: "Price of S&P 500?" }] }],
    },
    response: {
      id: "msg_tool",
      type: "message",
      role: "assistant",
      model: "claude-haiku-4-5-20251001",
      content: [{ type: "tool_use", id: "toolu_x", name: "get_stock_price", input: { ticker: "^GSPC" } }],
      stop_reason: "tool_use",
      usage: {
        input_tokens: 384,
        output_tokens: 67,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
      },
    },
    expect: {
      request: {
        model: "claude-haiku-4-5",
        messages: [{ role: "user", content: [{ type: "text", text: "Price of S&P 500?" }] }],
        max_completion_tokens: 256,
        tools: [
          {
            type: "function",
            function: {
              name: "get_stock_price",
              parameters: { type: "object", properties: { ticker: { type: "string" } } },
            },
          },
        ],
        tool_choice: { type: "function", function: { name: "get_stock_price" } },
        parallel_tool_calls: false,
      },
      response: {
        id: "msg_tool",
        object: "chat.completion",
        model: "claude-haiku-4-5-20251001",
        choices: [
          {
            index: 0,
            message: {
              role: "assistant",
              content: null,
              tool_calls: [
                {
                  id: "toolu_x",
                  type: "function",
                  function: { name: "get_stock_price", arguments: '{"ticker":"^GSPC"}' },
                },
              ],
            },
            finish_reason: "tool_calls",
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: 384,
          completion_tokens: 67,
          total_tokens: 451,
          prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
        },
      },
    },
  },
  {
    name: "an error body (overloaded) is chat's error body",
    request: {
      model: "claude-sonnet-4-5",
      max_tokens: 5,
      messages: [{ role: "user", content: "Write an essay" }],
    },
    response: {
      type: "error",
      error: { type: "overloaded_error", message: "Overloaded" },
      request_id: "req_011CSHoEeqs5C35K2UUqR7Fy",
    },
    expect: {
      request: {
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "Write an essay" }],
        max_completion_tokens: 5,
      },
      response: { error: { message: "Overloaded", type: "overloaded_error" } },
    },
  },
];

describe("responsesToChat", () => {
  for (const row of responsesRows) {
    it(row.name, () => {
      assert.deepEqual(responsesToChat(row.request, row.response), row.expect);
    });
  }

  it("the kernel's accessors read a converted response as any completion", () => {
    const { response } = responsesToChat(responsesRows[1]?.request, responsesRows[1]?.response);
    assert.deepEqual(usageOf(response), {
      promptTokens: 320,
      completionTokens: 148,
      totalTokens: 468,
      cachedTokens: 256,
      reasoningTokens: 128,
      providerCost: null,
    });
    assert.equal(finishReasonOf(response), "stop");
    assert.equal(
      firstMessage(response)?.reasoning_content,
      "**Comparing temperatures**\n\nBogotá is warmer.",
    );
  });

  it("text after tool calls in the input starts another assistant message; a null response stays null", () => {
    const { request, response } = responsesToChat(
      {
        input: [
          { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
          { type: "message", role: "assistant", content: [{ type: "output_text", text: "Done." }] },
        ],
      },
      null,
    );
    assert.deepEqual(request.messages, [
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }],
      },
      { role: "assistant", content: "Done." },
    ]);
    assert.equal(response, null);
  });

  it("throws a ConversionError naming what chat cannot hold", () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      [
        { input: [{ type: "item_reference", id: "msg_1" }] },
        null,
        /input\[0\]: an item of type "item_reference"/,
      ],
      [
        { input: [{ role: "user", content: [{ type: "input_video" }] }] },
        null,
        /input\[0\]\.content\[0\].*"input_video"/,
      ],
      [{ input: 42 }, null, /input is neither text nor a list/],
      [
        { input: "x" },
        { object: "response", output: [{ type: "mcp_list_tools", id: "m" }] },
        /response\.output\[0\].*"mcp_list_tools"/,
      ],
      [{ input: "x" }, { object: "response", output: "nope" }, /response\.output is not a list/],
      ["not an object", null, /request is not an object/],
    ];
    for (const [request, response, message] of cases) {
      assert.throws(
        () => responsesToChat(request, response),
        (e: unknown) => e instanceof ConversionError && message.test(e.message),
      );
    }
  });
});

describe("messagesToChat", () => {
  for (const row of messagesRows) {
    it(row.name, () => {
      assert.deepEqual(messagesToChat(row.request, row.response), row.expect);
    });
  }

  it("stop reasons map to chat's finish reasons", () => {
    const expected: Record<string, string | null> = {
      end_turn: "stop",
      stop_sequence: "stop",
      pause_turn: "stop",
      max_tokens: "length",
      tool_use: "tool_calls",
      refusal: "content_filter",
      something_new: null,
    };
    for (const [stop, finish] of Object.entries(expected)) {
      const { response } = messagesToChat(
        { messages: [] },
        {
          id: "msg_1",
          type: "message",
          role: "assistant",
          content: [{ type: "text", text: "x" }],
          stop_reason: stop,
        },
      );
      assert.equal(finishReasonOf(response), finish, stop);
    }
  });

  it("a server tool's use is a tool call, its result stays in the original; documents become files", () => {
    const { request, response } = messagesToChat(
      {
        messages: [
          {
            role: "user",
            content: [
              {
                type: "document",
                title: "a.pdf",
                source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" },
              },
              {
                type: "document",
                source: { type: "text", media_type: "text/plain", data: "The grass is green." },
              },
            ],
          },
        ],
      },
      {
        id: "msg_ws",
        type: "message",
        role: "assistant",
        content: [
          { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "weather" } },
          { type: "web_search_tool_result", tool_use_id: "srvtoolu_1", content: [] },
          { type: "text", text: "Sunny." },
        ],
        stop_reason: "end_turn",
      },
    );
    assert.deepEqual(request.messages, [
      {
        role: "user",
        content: [
          { type: "file", file: { file_data: "data:application/pdf;base64,JVBERi0=", filename: "a.pdf" } },
          { type: "text", text: "The grass is green." },
        ],
      },
    ]);
    assert.deepEqual(toolCallsOf(firstMessage(response)), [
      {
        id: "srvtoolu_1",
        type: "function",
        function: { name: "web_search", arguments: '{"query":"weather"}' },
      },
    ]);
    assert.equal(firstMessage(response)?.content, "Sunny.");
  });

  it("throws a ConversionError naming what chat cannot hold", () => {
    const cases: Array<[unknown, unknown, RegExp]> = [
      [
        { messages: [{ role: "user", content: [{ type: "search_result", source: "x" }] }] },
        null,
        /messages\[0\]\.content\[0\].*"search_result"/,
      ],
      [{ messages: [{ role: "system", content: "x" }] }, null, /messages\[0\]: a message with role "system"/],
      [{ messages: "x" }, null, /messages is not a list/],
      [{ system: [{ type: "image" }] }, null, /system\[0\].*"image"/],
      [
        { messages: [] },
        { type: "message", content: [{ type: "container_upload" }] },
        /response\.content\[0\].*"container_upload"/,
      ],
    ];
    for (const [request, response, message] of cases) {
      assert.throws(
        () => messagesToChat(request, response),
        (e: unknown) => e instanceof ConversionError && message.test(e.message),
      );
    }
  });
});
