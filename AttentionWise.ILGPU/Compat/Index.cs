// Index types of the ILGPU 1.5.3 API subset (ILGPU.Index1D, Index2D, Index3D, LongIndex1D).
// X is the fastest-varying dimension, as in ILGPU: linear = X + Y * extent.X + Z * extent.X * extent.Y.
using System.Runtime.CompilerServices;

namespace ILGPU;

/// <summary>The kind of an index (ILGPU.IndexType).</summary>
public enum IndexType
{
    None = 0,
    Index1D = 1,
    Index2D = 2,
    Index3D = 3,
    LongIndex1D = 4,
}

/// <summary>An index or extent of a kernel launch (ILGPU.IIndex).</summary>
public interface IIndex
{
    /// <summary>The kind of this index.</summary>
    IndexType IndexType { get; }
}

/// <summary>A one-dimensional 32-bit index.</summary>
public readonly struct Index1D : IIndex, IEquatable<Index1D>
{
    public Index1D(int x) => X = x;

    public static Index1D Zero => new(0);
    public static Index1D One => new(1);
    public static Index1D Invalid => new(-1);

    public int X { get; }
    public int Size => X;
    public long LongSize => X;
    public bool IsFirst => X == 0;
    public IndexType IndexType => IndexType.Index1D;

    public bool InBounds(Index1D dimension) => X >= 0 && X < dimension.X;
    public bool InBoundsInclusive(Index1D dimension) => X >= 0 && X <= dimension.X;
    public LongIndex1D ToLongIndex() => new(X);

    public bool Equals(Index1D other) => X == other.X;
    public override bool Equals(object? obj) => obj is Index1D other && Equals(other);
    public override int GetHashCode() => X;
    public override string ToString() => $"({X})";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator int(Index1D idx) => idx.X;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator Index1D(int idx) => new(idx);
    public static implicit operator LongIndex1D(Index1D index) => new(index.X);
    public static explicit operator uint(Index1D idx) => (uint)idx.X;

    public static Index1D operator +(Index1D first, Index1D second) => new(first.X + second.X);
    public static Index1D operator -(Index1D first, Index1D second) => new(first.X - second.X);
    public static Index1D operator *(Index1D first, Index1D second) => new(first.X * second.X);
    public static Index1D operator /(Index1D first, Index1D second) => new(first.X / second.X);
    public static bool operator ==(Index1D first, Index1D second) => first.X == second.X;
    public static bool operator !=(Index1D first, Index1D second) => first.X != second.X;
}

/// <summary>A two-dimensional 32-bit index; X varies fastest.</summary>
public readonly struct Index2D : IIndex, IEquatable<Index2D>
{
    public Index2D(int value) : this(value, value) { }

    public Index2D(int x, int y)
    {
        X = x;
        Y = y;
    }

    public static Index2D Zero => new(0, 0);
    public static Index2D One => new(1, 1);

    public int X { get; }
    public int Y { get; }
    public int Size => X * Y;
    public long LongSize => (long)X * Y;
    public bool IsFirst => X == 0 && Y == 0;
    public IndexType IndexType => IndexType.Index2D;

    public bool InBounds(Index2D dimension) =>
        X >= 0 && X < dimension.X && Y >= 0 && Y < dimension.Y;

    public void Deconstruct(out int x, out int y)
    {
        x = X;
        y = Y;
    }

    public (int, int) ToValueTuple() => (X, Y);

    public bool Equals(Index2D other) => X == other.X && Y == other.Y;
    public override bool Equals(object? obj) => obj is Index2D other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(X, Y);
    public override string ToString() => $"({X}, {Y})";

    public static implicit operator Index2D((int, int) values) => new(values.Item1, values.Item2);

    public static Index2D operator +(Index2D first, Index2D second) =>
        new(first.X + second.X, first.Y + second.Y);
    public static Index2D operator -(Index2D first, Index2D second) =>
        new(first.X - second.X, first.Y - second.Y);
    public static bool operator ==(Index2D first, Index2D second) => first.Equals(second);
    public static bool operator !=(Index2D first, Index2D second) => !first.Equals(second);
}

/// <summary>A three-dimensional 32-bit index; X varies fastest, then Y, then Z.</summary>
public readonly struct Index3D : IIndex, IEquatable<Index3D>
{
    public Index3D(int value) : this(value, value, value) { }

    public Index3D(int x, int y, int z)
    {
        X = x;
        Y = y;
        Z = z;
    }

    public Index3D(Index2D xy, int z) : this(xy.X, xy.Y, z) { }
    public Index3D(int x, Index2D yz) : this(x, yz.X, yz.Y) { }

    public static Index3D Zero => new(0, 0, 0);
    public static Index3D One => new(1, 1, 1);

    public int X { get; }
    public int Y { get; }
    public int Z { get; }
    public Index2D XY => new(X, Y);
    public Index2D YZ => new(Y, Z);
    public int Size => X * Y * Z;
    public long LongSize => (long)X * Y * Z;
    public bool IsFirst => X == 0 && Y == 0 && Z == 0;
    public IndexType IndexType => IndexType.Index3D;

    public bool InBounds(Index3D dimension) =>
        X >= 0 && X < dimension.X && Y >= 0 && Y < dimension.Y && Z >= 0 && Z < dimension.Z;

    public void Deconstruct(out int x, out int y, out int z)
    {
        x = X;
        y = Y;
        z = Z;
    }

    public (int, int, int) ToValueTuple() => (X, Y, Z);

    public bool Equals(Index3D other) => X == other.X && Y == other.Y && Z == other.Z;
    public override bool Equals(object? obj) => obj is Index3D other && Equals(other);
    public override int GetHashCode() => HashCode.Combine(X, Y, Z);
    public override string ToString() => $"({X}, {Y}, {Z})";

    public static implicit operator Index3D((int, int, int) values) =>
        new(values.Item1, values.Item2, values.Item3);

    public static Index3D operator +(Index3D first, Index3D second) =>
        new(first.X + second.X, first.Y + second.Y, first.Z + second.Z);
    public static Index3D operator -(Index3D first, Index3D second) =>
        new(first.X - second.X, first.Y - second.Y, first.Z - second.Z);
    public static bool operator ==(Index3D first, Index3D second) => first.Equals(second);
    public static bool operator !=(Index3D first, Index3D second) => !first.Equals(second);
}

/// <summary>A one-dimensional 64-bit index.</summary>
public readonly struct LongIndex1D : IIndex, IEquatable<LongIndex1D>
{
    public LongIndex1D(long x) => X = x;

    public static LongIndex1D Zero => new(0);
    public static LongIndex1D One => new(1);

    public long X { get; }
    public long Size => X;
    public bool IsFirst => X == 0;
    public IndexType IndexType => IndexType.LongIndex1D;

    public bool InBounds(LongIndex1D dimension) => X >= 0 && X < dimension.X;

    /// <summary>Converts to a 32-bit index; throws when the value does not fit.</summary>
    public Index1D ToIntIndex() => new(checked((int)X));

    public bool Equals(LongIndex1D other) => X == other.X;
    public override bool Equals(object? obj) => obj is LongIndex1D other && Equals(other);
    public override int GetHashCode() => X.GetHashCode();
    public override string ToString() => $"({X})";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator long(LongIndex1D idx) => idx.X;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static implicit operator LongIndex1D(long idx) => new(idx);
    public static explicit operator Index1D(LongIndex1D index) => index.ToIntIndex();

    public static LongIndex1D operator +(LongIndex1D first, LongIndex1D second) => new(first.X + second.X);
    public static LongIndex1D operator -(LongIndex1D first, LongIndex1D second) => new(first.X - second.X);
    public static bool operator ==(LongIndex1D first, LongIndex1D second) => first.X == second.X;
    public static bool operator !=(LongIndex1D first, LongIndex1D second) => first.X != second.X;
}
