namespace AttentionWise.Tool.Cli;

/// <summary>A command line whose options do not fit together in a way the parser cannot see (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
