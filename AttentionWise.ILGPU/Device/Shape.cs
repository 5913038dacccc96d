using System.Collections;

namespace AttentionWise;

/// <summary>An immutable tensor shape. 4-D shapes are NCHW (batch, channels, rows, columns).</summary>
public sealed class Shape : IEquatable<Shape>, IReadOnlyList<int>
{
    private readonly int[] _dims;

    public Shape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        long length = 1;
        foreach (int d in dims)
        {
            if (d < 0)
                throw new ArgumentOutOfRangeException(nameof(dims), $"Shape {Format(dims)} has a negative dimension.");
            length *= d;
            if (length > int.MaxValue)
                throw new ArgumentOutOfRangeException(nameof(dims), $"Shape {Format(dims)} has more than {int.MaxValue} elements.");
        }
        _dims = (int[])dims.Clone();
        Length = (int)length;
    }

    public static Shape Of(params int[] dims) => new(dims);

    /// <summary>The number of dimensions.</summary>
    public int Rank => _dims.Length;

    /// <summary>The number of elements.</summary>
    public int Length { get; }

    public int this[int axis] => _dims[axis];

    /// <summary>Batch size of an NCHW (or N×features) shape.</summary>
    public int N => Dim(0, "N");
    public int C => Require4D("C", 1);
    public int H => Require4D("H", 2);
    public int W => Require4D("W", 3);

    /// <summary>The shape with its first dimension replaced (a different batch size).</summary>
    public Shape WithBatch(int n)
    {
        var dims = (int[])_dims.Clone();
        dims[0] = n;
        return new Shape(dims);
    }

    /// <summary>Elements per item of the batch (product of all but the first dimension).</summary>
    public int ItemLength => Rank == 0 ? 1 : (_dims[0] == 0 ? Tail() : Length / _dims[0]);

    public int[] ToArray() => (int[])_dims.Clone();

    /// <summary>Throws a <see cref="ShapeMismatchException"/> naming both shapes unless they are equal.</summary>
    public static void Require(Shape expected, Shape actual, string where)
    {
        if (!expected.Equals(actual))
            throw new ShapeMismatchException(where, expected, actual);
    }

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => obj is Shape other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int d in _dims)
            hash.Add(d);
        return hash.ToHashCode();
    }

    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);

    public override string ToString() => Format(_dims);

    public int Count => _dims.Length;
    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_dims).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _dims.GetEnumerator();

    private static string Format(int[] dims) => "[" + string.Join(", ", dims) + "]";

    private int Dim(int axis, string name) =>
        axis < Rank ? _dims[axis] : throw new InvalidOperationException($"Shape {this} has no {name} dimension.");

    private int Require4D(string name, int axis) =>
        Rank == 4 ? _dims[axis] : throw new InvalidOperationException($"Shape {this} is not NCHW, so it has no {name} dimension.");

    private int Tail()
    {
        int p = 1;
        for (int i = 1; i < Rank; i++)
            p *= _dims[i];
        return p;
    }
}

/// <summary>A tensor had a different shape from the one an operation needs.</summary>
public sealed class ShapeMismatchException : ArgumentException
{
    public ShapeMismatchException(string where, Shape expected, Shape actual)
        : base($"{where}: expected shape {expected} but got {actual}.")
    {
        Expected = expected;
        Actual = actual;
    }

    public Shape Expected { get; }
    public Shape Actual { get; }
}
